CREATE TABLE `config_versions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`parent` integer,
	`created_at_ms` integer NOT NULL,
	`source` text NOT NULL,
	`author` text NOT NULL,
	`sha256` text NOT NULL,
	`toml` text NOT NULL,
	FOREIGN KEY (`parent`) REFERENCES `config_versions`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `config_versions_sha256_idx` ON `config_versions` (`sha256`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`time_ms` integer NOT NULL,
	`kind` text NOT NULL,
	`subject` text NOT NULL,
	`detail` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_time_ms_idx` ON `events` (`time_ms`);--> statement-breakpoint
CREATE INDEX `events_kind_time_ms_idx` ON `events` (`kind`,`time_ms`);