/*
 * The TUN floor: the least work any TUN-based NAT balancer can do per packet, as an anchor for
 * `bench/dataplane.ts`. It opens a TUN device the way tandem does (IFF_VNET_HDR, TUNSETOFFLOAD
 * CSUM|TSO4|TSO6, one queue), reads one packet per read(2), rewrites it with incremental checksum
 * updates, and writes it back with one write(2). There is no connection table, no scheduler, no
 * counters and no housekeeping: TCP and UDP to VIP:any go to SERVER:same port (nat mode), and
 * TCP and UDP from SERVER leave with the VIP as source. Whatever this program cannot reach, no
 * TUN design on the same machine can, whatever its language; the gap between it and kernel DNAT
 * is the price of crossing into user space and back, not of tandem's code.
 *
 * Build: cc -O2 -o tun-floor bench/tun-floor.c    Run: tun-floor DEVICE VIP SERVER
 * Prints "ready" on stderr once the device exists; the caller brings it up and routes into it.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define VNET_HDR_LEN ((int)sizeof(struct virtio_net_hdr))

static uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/*
 * RFC 1624 update of a checksum field for a 32-bit word changing from `from` to `to`. A partial
 * checksum (virtio NEEDS_CSUM) holds the uncomplemented pseudo-header sum, a full one its
 * complement, so the two are updated in opposite senses.
 */
static uint16_t update(uint16_t field, uint32_t from, uint32_t to, int partial) {
  uint32_t sum = partial ? field : (uint16_t)~field;
  sum += (uint16_t)~(from >> 16);
  sum += (uint16_t)~(from & 0xffff);
  sum += to >> 16;
  sum += to & 0xffff;
  uint16_t folded = fold(sum);
  return partial ? folded : (uint16_t)~folded;
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }

/* Rewrites the address at `ip + at` (12 = source, 16 = destination) and both checksums. */
static void rewrite(uint8_t *ip, uint8_t *l4, int at, uint32_t to, int checkAt, int partial) {
  uint32_t from = get32(ip + at);
  put32(ip + at, to);
  put16(ip + 10, update(get16(ip + 10), from, to, 0));
  uint16_t check = get16(l4 + checkAt);
  // A UDP checksum of 0 means none was computed: it stays 0.
  if (checkAt == 6 && check == 0 && !partial) return;
  put16(l4 + checkAt, update(check, from, to, partial));
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: tun-floor DEVICE VIP SERVER\n");
    return 2;
  }
  struct in_addr vipAddr, serverAddr;
  if (inet_pton(AF_INET, argv[2], &vipAddr) != 1 || inet_pton(AF_INET, argv[3], &serverAddr) != 1) {
    fprintf(stderr, "tun-floor: VIP and SERVER must be IPv4 addresses\n");
    return 2;
  }
  uint32_t vip = ntohl(vipAddr.s_addr), server = ntohl(serverAddr.s_addr);
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    perror("tun-floor: open /dev/net/tun");
    return 1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
    perror("tun-floor: TUNSETIFF/TUNSETOFFLOAD");
    return 1;
  }
  fprintf(stderr, "ready\n");
  static uint8_t buf[65536 + 64];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      perror("tun-floor: read");
      return 1;
    }
    uint8_t *ip = buf + VNET_HDR_LEN;
    if (n < VNET_HDR_LEN + 20 || ip[0] >> 4 != 4) continue;
    int ihl = (ip[0] & 15) * 4, proto = ip[9];
    int checkAt = proto == 6 ? 16 : proto == 17 ? 6 : -1;
    if (checkAt < 0 || n < VNET_HDR_LEN + ihl + checkAt + 2) continue;
    uint8_t *l4 = ip + ihl;
    int partial = (((struct virtio_net_hdr *)buf)->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
    if (get32(ip + 16) == vip) rewrite(ip, l4, 16, server, checkAt, partial);
    else if (get32(ip + 12) == server) rewrite(ip, l4, 12, vip, checkAt, partial);
    else continue;
    if (write(fd, buf, (size_t)n) != n) continue; // A full queue drops, as in the kernel.
  }
}
