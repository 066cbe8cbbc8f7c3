import type { Field } from "./schema-dsl.ts";

interface Section {
  title: string;
  doc: string;
  rows: string[];
}

function defaultText(field: Field<unknown>): string {
  if (field.defaultValue !== undefined) return `\`${field.formatDefault ? field.formatDefault(field.defaultValue) : JSON.stringify(field.defaultValue)}\``;
  if (field.defaultText) return field.defaultText;
  if (field.absentAsEmpty) return "(table of defaults)";
  return field.required ? "**required**" : "optional";
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

function row(key: string, field: Field<unknown>): string {
  return `| \`${key}\` | ${cell(field.type)} | ${cell(defaultText(field))} | ${cell(field.doc)} |`;
}

function tableItem(field: Field<unknown>): Field<unknown> | undefined {
  const item = field.item;
  return item && (item.shape || item.tagged) ? item : undefined;
}

function walk(title: string, field: Field<unknown>, sections: Section[]): void {
  const section: Section = { title, doc: field.doc, rows: [] };
  sections.push(section);
  const nested: [string, Field<unknown>][] = [];
  if (field.tagged) section.rows.push(`| \`${field.tagged.tag}\` | ${cell(Object.keys(field.tagged.variants).map((v) => `"${v}"`).join(" | "))} | **required** | Selects the kind; each kind adds the keys listed below. |`);
  for (const [key, child] of Object.entries(field.shape ?? {})) {
    section.rows.push(row(key, child));
    if (child.shape || child.tagged) nested.push([`${title.replace(/^\[+|\]+$/g, "")}.${key}`, child]);
    const item = tableItem(child);
    if (item) nested.push([`${title.replace(/^\[+|\]+$/g, "")}.${key}${child.type.startsWith("table of") ? ".NAME" : "[]"}`, item]);
  }
  for (const [variant, shape] of Object.entries(field.tagged?.variants ?? {})) {
    const keys = Object.entries(shape);
    sections.push({
      title: `${title} with ${field.tagged!.tag} = "${variant}"`,
      doc: keys.length === 0 ? "No further keys." : `Keys added by ${field.tagged!.tag} "${variant}".`,
      rows: keys.map(([key, child]) => row(key, child)),
    });
  }
  for (const [name, child] of nested) walk(name.startsWith("[") ? name : `[${name}]`, child, sections);
}

/**
 * Renders the reference part of docs/config.md from the schema: one section per table, each
 * key with its type, default and description, so the docs cannot drift from the validator.
 */
export function describeSchema(schema: Field<unknown>): string {
  const sections: Section[] = [];
  const top: Section = { title: "Top level", doc: "Keys and tables at the top of the file.", rows: [] };
  sections.push(top);
  const later: [string, Field<unknown>][] = [];
  for (const [key, child] of Object.entries(schema.shape ?? {})) {
    top.rows.push(row(key, child));
    const item = tableItem(child);
    if (item) later.push([`[[${key}]]`, item]);
    else if (child.shape) later.push([`[${key}]`, child]);
  }
  for (const [title, child] of later) walk(title, child, sections);
  const out: string[] = [];
  for (const s of sections) {
    out.push(`### ${s.title}`, "", s.doc, "");
    if (s.rows.length > 0) out.push("| key | type | default | description |", "| --- | --- | --- | --- |", ...s.rows, "");
  }
  return out.join("\n");
}
