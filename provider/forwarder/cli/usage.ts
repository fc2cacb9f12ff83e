import { DEFAULTS, SOCKET_BUFFER_BYTES } from "../options";
import { MAX_CONNECTIONS_LIMIT, MAX_WORKERS } from "./arguments";
import { MIN_TOKEN_LENGTH } from "./token";
import { MAX_ASN, PEER_FORM } from "./vip";

export const USAGE = `usage: dnlb-forwarder --admin-listen HOST:PORT --state-dir DIR [options]

  --admin-listen HOST:PORT     admin API address, e.g. 127.0.1.1:9180 or [::1]:9180 (port 0: ephemeral)
  --listen-address ADDR        address listeners bind (default 0.0.0.0; with --vip, the VIP)
  --state-dir DIR              where the configuration (config.json) is kept
  --token-file FILE            file holding the admin API token (else DNLB_ADMIN_TOKEN); a warning
                               is logged when group or others can read it
  --tls-cert-file FILE         serve the admin API over HTTPS with this PEM certificate (chain)...
  --tls-key-file FILE          ...and this PEM private key. Both files are watched: a new pair is
                               served to new connections without a restart (a bad one is logged
                               and the old one kept). Required when --admin-listen is not loopback
  --allow-plain-http           serve plain HTTP on an admin address that is not loopback: the
                               token then crosses the network in clear text
  --metrics-require-token      /metrics needs the bearer token too (default: open, on the admin
                               address only; /healthz is always open)
  --hash-seed-file FILE        file holding the hash seed (else DNLB_HASH_SEED): keeps it out of
                               the process environment
  --node-name NAME             name in logs and status (default: the host name)
  --shutdown-grace-seconds S   on SIGTERM, how long open connections may finish (default ${DEFAULTS.shutdownGraceMs / 1000})
  --workers N                  data-plane worker processes sharing the listener ports,
                               0-${MAX_WORKERS} (default: the number of CPUs; 0 runs the data
                               plane in the node's own process)
  --engine native|streams      who moves the bytes: native (the C relay built with the package,
                               less than half the CPU per connection) or streams (Node's sockets).
                               Default: native when it loads on this host, else streams
  --require-native             exit (code 2, saying why and how to fix it) when the native relay
                               does not load, instead of falling back to streams
  --max-connections-per-listener N
                               open client connections a listener holds before it resets new
                               ones, 1-${MAX_CONNECTIONS_LIMIT} (default: what the open-files limit allows, two
                               descriptors a connection per data-plane process, at most ${DEFAULTS.dataPlane.maxConnectionsPerListener})
  --socket-buffer-bytes N      caps the kernel receive and send buffers of both sockets of every
                               proxied connection (native engine), so a member that stops reading
                               pins a bounded amount of kernel memory per client; 0 leaves them to
                               the kernel's autotuning, else ${SOCKET_BUFFER_BYTES.min}-${SOCKET_BUFFER_BYTES.max} (default ${DEFAULTS.dataPlane.socketBufferBytes})
  --max-udp-sessions N         UDP sessions each data-plane process holds; a new one beyond it
                               closes the oldest (counted as evicted), 1-${MAX_CONNECTIONS_LIMIT} (default:
                               what the open-files limit allows, one descriptor a session, at most ${DEFAULTS.dataPlane.maxUdpSessions})
  --log-level LEVEL            trace, debug, info, warn, error (default info)

one VIP served by every node (routers spread flows over the nodes with ECMP):
  --vip ADDRESS                the listeners bind ADDRESS; the node adds it to lo as a /32 (/128)
                               when it is not local (needs CAP_NET_ADMIN, else add it beforehand)
  --bgp-local-asn N            announce the VIP over BGP from AS N (1-${MAX_ASN}), with BIRD 2
                               run as the node's child; announced while every listener listens,
                               withdrawn when one cannot, when the data plane stops, on SIGTERM
  --bgp-peer ${PEER_FORM}
                               a router to announce to (repeatable), e.g. 10.0.1.1:65000 or
                               [2001:db8::1]:65000; hold= and bfd= set this session's hold time
                               and BFD, e.g. 10.0.1.1:65000,hold=9,bfd=on (default: the two
                               flags below)
  --bgp-router-id ADDRESS      BGP router id (default: BIRD picks one of the node's addresses)
  --bgp-hold-time SECONDS      hold time of the peers that give no hold=: 3-65535 or 0 for none;
                               keepalives every third of it (default ${DEFAULTS.vip.holdTimeSeconds})
  --bgp-bfd                    BFD (100 ms x 3) with the peers that give no bfd=: a silent node
                               is dropped in 0.3 s
  --bird-binary PATH           BIRD 2's bird (default ${DEFAULTS.vip.birdBinary}); birdc is taken from the same folder
  --withdraw-grace-seconds S   on SIGTERM, the wait between withdrawing the VIP and closing the
                               listeners, for routers to converge (default ${DEFAULTS.vip.withdrawGraceMs / 1000})

environment:
  DNLB_ADMIN_TOKEN   admin API bearer token, at least ${MIN_TOKEN_LENGTH} characters (or --token-file)
  DNLB_HASH_SEED     the load balancer's hash seed, 32 hex characters; every node of a load
                     balancer must have the same one. Unset: a seed generated and kept in the
                     state directory (fine for one node, wrong for several).
`;
