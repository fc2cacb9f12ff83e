import { DEFAULTS } from "../options";
import { MAX_CONNECTIONS_LIMIT, MAX_WORKERS } from "./arguments";
import { MIN_TOKEN_LENGTH } from "./token";

export const USAGE = `usage: dnlb-forwarder --admin-listen HOST:PORT --state-dir DIR [options]

  --admin-listen HOST:PORT     admin API address, e.g. 127.0.1.1:9180 or [::1]:9180 (port 0: ephemeral)
  --listen-address ADDR        address listeners bind (default 0.0.0.0)
  --state-dir DIR              where the configuration (config.json) is kept
  --token-file FILE            file holding the admin API token (else DNLB_ADMIN_TOKEN)
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
  --max-udp-sessions N         UDP sessions each data-plane process holds; a new one beyond it
                               closes the oldest (counted as evicted), 1-${MAX_CONNECTIONS_LIMIT} (default:
                               what the open-files limit allows, one descriptor a session, at most ${DEFAULTS.dataPlane.maxUdpSessions})
  --log-level LEVEL            trace, debug, info, warn, error (default info)

environment:
  DNLB_ADMIN_TOKEN   admin API bearer token, at least ${MIN_TOKEN_LENGTH} characters (or --token-file)
  DNLB_HASH_SEED     the load balancer's hash seed, 32 hex characters; every node of a load
                     balancer must have the same one. Unset: a seed generated and kept in the
                     state directory (fine for one node, wrong for several).
`;
