//! `ringtty fleet haproxy-config`: prints an haproxy.cfg for ringtty nodes behind one
//! HAProxy (2.4 or later), so that no operator writes a routing regex.
//!
//! A session lives on one node and its id says which: `NAME.` + 18 characters
//! (src/session/id.rs). Every request that names a session goes to that node's own
//! backend, matched on the exact prefix `NAME.` (a `.` never occurs in a name, so node
//! `web` never captures `web-01.` ids); everything else goes to the least loaded node
//! whose `GET /health` answers 200. [`haproxy_config`] is pure (arguments in, text out);
//! only [`fleet`] prints.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::session::NodeId;

/// Where `--tls-backend` configs expect the CA that signed the nodes' certificates.
pub const TLS_CA_FILE: &str = "/etc/ringtty/ca.pem";
const DEFAULT_BIND: &str = "0.0.0.0:8080";
const DEFAULT_HOST: &str = "localhost";
/// The server's own limit on `-b` (src/config).
const MAX_BASE_PATH: usize = 128;

#[derive(Debug, Parser)]
#[command(
    name = "ringtty fleet",
    bin_name = "ringtty fleet",
    about = "Tools for running ringtty nodes as one fleet behind a load balancer.",
    disable_version_flag = true,
    subcommand_required = true
)]
struct FleetCommand {
    #[command(subcommand)]
    tool: Tool,
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// Print an haproxy.cfg that sends each session's requests to the node that owns it
    #[command(after_help = "Every node runs with --node-id NAME, the same --auth-secret-file, \
                      --allow-host PUBLIC_NAME and --trusted-proxy HAPROXY_IP/32; the config's \
                      header says so again. Check it with `haproxy -c -f haproxy.cfg`.")]
    HaproxyConfig(FleetArgs),
}

/// The flags of `ringtty fleet haproxy-config`, as given; [`haproxy_config`] checks them.
#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    /// A node: its --node-id and the address HAProxy reaches it at (once per node)
    #[arg(long = "node", value_name = "NAME=HOST:PORT")]
    pub nodes: Vec<String>,

    /// Where HAProxy listens for browsers and clients
    #[arg(long, default_value = DEFAULT_BIND, value_name = "ADDR:PORT")]
    pub bind: String,

    /// The nodes' -b/--base-path
    #[arg(long = "base-path", value_name = "/PREFIX")]
    pub base_path: Option<String>,

    /// The Host header of the health check: a name every node answers for
    #[arg(long, default_value = DEFAULT_HOST, value_name = "NAME")]
    pub host: String,

    /// The nodes serve HTTPS (-S): verify them with the CA in /etc/ringtty/ca.pem
    #[arg(long = "tls-backend")]
    pub tls_backend: bool,

    /// Serve HAProxy's statistics page at ADDR:PORT (keep it on a private address)
    #[arg(long, value_name = "ADDR:PORT")]
    pub stats: Option<String>,
}

/// `argv` starts at `fleet` (clap's program name for the subcommand's help).
pub fn fleet(argv: &[OsString]) -> ExitCode {
    let Tool::HaproxyConfig(args) = match FleetCommand::try_parse_from(argv) {
        Ok(parsed) => parsed.tool,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            return super::fail("fleet needs a tool: haproxy-config; run `ringtty fleet --help`");
        }
        Err(e) if argv.get(1).is_some_and(|a| a == "haproxy-config") => {
            return super::clap_exit(&e, "ringtty fleet haproxy-config --help");
        }
        Err(e) => return super::clap_exit(&e, "ringtty fleet --help"),
    };
    let config = match haproxy_config(&args) {
        Ok(config) => config,
        Err(e) => return super::fail(&format!("fleet haproxy-config: {e}")),
    };
    match std::io::stdout().write_all(config.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&format!("cannot write the config to stdout ({e})")),
    }
}

/// The haproxy.cfg for `args`, or why they are refused (one line, naming the flag).
pub fn haproxy_config(args: &FleetArgs) -> Result<String, String> {
    let fleet = Fleet::from_args(args)?;
    let mut out = String::new();
    fleet.write(&mut out).expect("writing to a String cannot fail");
    Ok(out)
}

/// A `host:port` as HAProxy writes it (an IPv6 address in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Addr {
    host: String,
    port: u16,
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The checked arguments.
struct Fleet {
    nodes: Vec<(NodeId, Addr)>,
    bind: Addr,
    /// `""` or `/prefix`.
    base: String,
    /// Checked as a host name or address: nothing HAProxy would parse as syntax.
    host: String,
    tls: bool,
    stats: Option<Addr>,
}

impl Fleet {
    fn from_args(a: &FleetArgs) -> Result<Fleet, String> {
        if a.nodes.is_empty() {
            return Err("give at least one --node NAME=HOST:PORT (NAME is that node's --node-id)".into());
        }
        let mut nodes: Vec<(NodeId, Addr)> = Vec::with_capacity(a.nodes.len());
        for raw in &a.nodes {
            let Some((name, addr)) = raw.split_once('=') else {
                return Err(format!("--node {raw}: give NAME=HOST:PORT, e.g. --node web-01=10.0.0.11:7681"));
            };
            let id = NodeId::new(name).map_err(|_| {
                format!(
                    "--node {raw}: the name {name:?} is no node id (1 to 32 characters of A-Z a-z 0-9 _ -)"
                )
            })?;
            if nodes.iter().any(|(other, _)| other == &id) {
                return Err(format!(
                    "--node {raw}: the name {name} is given twice; every node needs its own"
                ));
            }
            nodes.push((id, address(&format!("--node {raw}"), addr)?));
        }
        Ok(Fleet {
            nodes,
            bind: address(&format!("--bind {}", a.bind), &a.bind)?,
            base: base_path(a.base_path.as_deref())?,
            host: checked_host(&a.host).ok_or_else(|| {
                format!("--host {}: give a host name or an IP address, without a port", a.host)
            })?,
            tls: a.tls_backend,
            stats: a.stats.as_deref().map(|s| address(&format!("--stats {s}"), s)).transpose()?,
        })
    }

    fn write(&self, out: &mut String) -> std::fmt::Result {
        self.write_header(out)?;
        self.write_frontend(out)?;
        self.write_backends(out)?;
        if let Some(stats) = &self.stats {
            writeln!(out, "\n# HAProxy's statistics page: which node is up, how many connections each has.")?;
            writeln!(
                out,
                "listen stats\n    bind {stats}\n    stats enable\n    stats uri /\n    stats refresh 5s"
            )?;
        }
        Ok(())
    }

    /// The command that made the file, and what the nodes must run with.
    fn write_header(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "# haproxy.cfg for a fleet of ringtty nodes, generated by ringtty {}:",
            env!("CARGO_PKG_VERSION")
        )?;
        writeln!(out, "#   {}", self.command_line())?;
        let base = if self.base.is_empty() { String::new() } else { format!(" -b {}", self.base) };
        let tls = if self.tls { " -S -C CERT.pem -K KEY.pem" } else { "" };
        write!(
            out,
            "#
# Regenerate it rather than editing the routing: a node is one more --node.
#
# Start every node as
#   ringtty --node-id NAME -i ADDR -p PORT{base}{tls} --auth-secret-file FILE \\
#           --allow-host PUBLIC_NAME --trusted-proxy HAPROXY_IP/32 [OPTIONS] COMMAND
#   --node-id NAME             its name below: its session ids start with \"NAME.\", and
#                              that is what this file routes on
#   -i ADDR -p PORT            where HAProxy reaches it, below (ringtty listens on
#                              127.0.0.1 unless told -i)
#   --auth-secret-file FILE    the same key on every node, so that a token or login
#                              cookie from one node is good on all
#   --allow-host PUBLIC_NAME   the host name browsers use to reach this proxy (a node
#                              answers only Host names it knows; localhost, which the
#                              health check sends, always)
#   --trusted-proxy IP/32      this proxy's address as the nodes see it, so that they
#                              believe its X-Forwarded-For (the client's address, for
#                              --rate-limit and the logs)
# The nodes:
"
        )?;
        let width = self.nodes.iter().map(|(n, _)| n.as_str().len()).max().unwrap_or(0);
        for (name, addr) in &self.nodes {
            writeln!(out, "#   --node-id {:width$}  at {addr}", name.as_str())?;
        }
        if self.tls {
            writeln!(
                out,
                "# They serve HTTPS (-S) with certificates that chain to the CA in {TLS_CA_FILE}\n\
                 # (edit ca-file below for another). The chain is verified, the name is not: add\n\
                 # `verifyhost NAME` to a server line for that."
            )?;
        }
        write!(
            out,
            "#
# Routing: a request that names a session goes to be_node_NAME, the one node that has
# it: {base}/api/sessions/NAME.ID and what is below it (/ws, /input, /resize), a page's
# ?s=NAME.ID, and POST {base}/api/tokens with {{\"session\": \"NAME.ID\"}}. Everything
# else (creating sessions, the pages and assets, ttyd's /ws, login) goes to be_fleet:
# the node with the fewest connections among those whose GET {base}/health answers 200
# (a node that is draining answers 503: it takes no new sessions but still serves its
# own). GET {base}/api/sessions lists the sessions of the one node that answers it,
# and a request that acts on one node (draining it) belongs on that node's own
# address, not here.
",
            base = self.base,
        )
    }

    /// The command line that makes this file again (defaults left out).
    fn command_line(&self) -> String {
        let mut line = String::from("ringtty fleet haproxy-config");
        for (name, addr) in &self.nodes {
            line += &format!(" --node {}={addr}", name.as_str());
        }
        if self.bind.to_string() != DEFAULT_BIND {
            line += &format!(" --bind {}", self.bind);
        }
        if !self.base.is_empty() {
            line += &format!(" --base-path {}", self.base);
        }
        if self.host != DEFAULT_HOST {
            line += &format!(" --host {}", self.host);
        }
        if self.tls {
            line += " --tls-backend";
        }
        if let Some(stats) = &self.stats {
            line += &format!(" --stats {stats}");
        }
        line
    }

    fn write_frontend(&self, out: &mut String) -> std::fmt::Result {
        let base = &self.base;
        write!(
            out,
            "
global
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    # An attached WebSocket is a tunnel; ringtty pings it every 5 s (-P) anyway.
    timeout tunnel 1h
    timeout http-request 10s

frontend ringtty
    bind {bind}
    # This proxy is the edge: an X-Forwarded-For from the client is a lie, and `option
    # forwardfor` adds the true one. Behind another proxy, delete this line and trust both.
    http-request del-header X-Forwarded-For

    # A share token is asked for with the session's id in the JSON body.
    acl share path {base}/api/tokens
    http-request wait-for-body time 2s if share METH_POST

    # A session id is NAME. + 18 characters: the exact prefix NAME. picks the node, and no
    # node's prefix is a prefix of another's (a NAME has no \".\").
",
            bind = self.bind,
        )?;
        if !base.is_empty() {
            writeln!(out, "    acl under_base path_beg {base}/")?;
        }
        for (name, _) in &self.nodes {
            let n = name.as_str();
            writeln!(out, "    acl session_{n} path_beg {base}/api/sessions/{n}.")?;
            writeln!(out, "    acl share_{n} req.body,json_query('$.session') -m beg {n}.")?;
            writeln!(out, "    acl page_{n} urlp(s) -m beg {n}.")?;
        }
        // The path first: it is what the node serves, whatever the query says.
        for (name, _) in &self.nodes {
            writeln!(out, "    use_backend be_node_{n} if session_{n}", n = name.as_str())?;
        }
        for (name, _) in &self.nodes {
            writeln!(out, "    use_backend be_node_{n} if share METH_POST share_{n}", n = name.as_str())?;
        }
        let under_base = if base.is_empty() { "" } else { "under_base " };
        for (name, _) in &self.nodes {
            writeln!(out, "    use_backend be_node_{n} if {under_base}page_{n}", n = name.as_str())?;
        }
        writeln!(out, "    default_backend be_fleet")
    }

    fn write_backends(&self, out: &mut String) -> std::fmt::Result {
        let tls =
            if self.tls { format!(" ssl verify required ca-file {TLS_CA_FILE}") } else { String::new() };
        write!(
            out,
            "
# New sessions and everything that names none: any healthy node.
backend be_fleet
    balance leastconn
    option redispatch
    option httpchk
    http-check send meth GET uri {base}/health ver HTTP/1.1 hdr Host {host}
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
",
            base = self.base,
            host = self.host,
        )?;
        for (name, addr) in &self.nodes {
            writeln!(out, "    server {} {addr} check{tls}", name.as_str())?;
        }
        // No health check: the owner is the only node that can serve its sessions, and
        // one that is draining (503 on /health) must keep serving them.
        for (name, addr) in &self.nodes {
            let n = name.as_str();
            writeln!(out, "\n# Sessions of node {n}: only it has them.\nbackend be_node_{n}\n    server {n} {addr}{tls}")?;
        }
        Ok(())
    }
}

/// `host:port`: an IPv4 address, `[IPv6]`, or a host name; the port 1 to 65535.
fn address(flag: &str, raw: &str) -> Result<Addr, String> {
    let refuse = |why: &str| format!("{flag}: {why}");
    // `[v6]:port`, else the last `:` (a bare IPv6 address is refused below).
    let split = match raw.strip_prefix('[') {
        Some(rest) => rest.split_once("]:").map(|(v6, port)| (&raw[..v6.len() + 2], port)),
        None => raw.rsplit_once(':'),
    };
    let Some((host, port)) = split else {
        return Err(refuse("give HOST:PORT, e.g. 10.0.0.11:7681, [fd00::11]:7681 or node1.internal:7681"));
    };
    let port = match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
        _ => return Err(refuse(&format!("the port {port:?} is not a number from 1 to 65535"))),
    };
    if host.contains(':') && !host.starts_with('[') {
        return Err(refuse("write an IPv6 address in brackets: [fd00::11]:7681"));
    }
    let host =
        checked_host(host).ok_or_else(|| refuse(&format!("{host:?} is no host name or IP address")))?;
    Ok(Addr { host, port })
}

/// A host name (letters, digits, `-`, `_`, dot-separated labels), an IPv4 address, or
/// `[IPv6]`, as HAProxy writes it; `None` for anything else.
fn checked_host(host: &str) -> Option<String> {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().ok().map(|ip| format!("[{ip}]"));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Some(ip.to_string());
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    // A last label of digits only is an IPv4 address gone wrong (10.0.0.256, 10.1),
    // which resolvers would still read as some address.
    let numeric = host.rsplit('.').next().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    (host.len() <= 253 && host.split('.').all(label_ok) && !numeric).then(|| host.to_owned())
}

/// `-b`'s rules (src/config), no trailing slash, and none of the characters
/// haproxy.cfg reads as syntax (`"`, `'`, `$`; `#` and `\` the server refuses already).
fn base_path(raw: Option<&str>) -> Result<String, String> {
    let Some(raw) = raw else { return Ok(String::new()) };
    let valid = raw.starts_with('/')
        && raw.len() > 1
        && !raw.ends_with('/')
        && raw.len() <= MAX_BASE_PATH
        && raw.bytes().all(|b| b.is_ascii_graphic() && !b"?#%\\\"'$".contains(&b));
    if valid {
        return Ok(raw.to_owned());
    }
    Err(format!(
        "--base-path {raw}: give the nodes' -b, starting with / and without a trailing /, at most \
         {MAX_BASE_PATH} printable characters without ? # % \\ \" ' $ (e.g. /term)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> FleetArgs {
        let argv = ["ringtty fleet", "haproxy-config"].into_iter().chain(extra.iter().copied());
        match FleetCommand::try_parse_from(argv).expect("clap accepts the syntax").tool {
            Tool::HaproxyConfig(a) => a,
        }
    }

    fn config(extra: &[&str]) -> String {
        haproxy_config(&args(extra)).unwrap()
    }

    fn lines(config: &str) -> Vec<&str> {
        config.lines().map(str::trim).collect()
    }

    /// The backend HAProxy would choose, evaluated the way it does from the generated
    /// `acl` and `use_backend` lines (only the fetches this generator writes).
    fn backend(config: &str, method: &str, path_and_query: &str, body: &str) -> String {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let s_param = query.split('&').find_map(|kv| kv.strip_prefix("s="));
        let session = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["session"].as_str().map(str::to_owned));
        let acl = |name: &str| -> bool {
            if name == "METH_POST" {
                return method == "POST";
            }
            let line = lines(config)
                .into_iter()
                .find(|l| l.starts_with(&format!("acl {name} ")))
                .unwrap_or_else(|| panic!("no acl {name}"));
            let rule: Vec<&str> = line.split_whitespace().skip(2).collect();
            match rule.as_slice() {
                ["path", p] => path == *p,
                ["path_beg", p] => path.starts_with(p),
                ["urlp(s)", "-m", "beg", p] => s_param.is_some_and(|s| s.starts_with(p)),
                ["req.body,json_query('$.session')", "-m", "beg", p] => {
                    session.as_deref().is_some_and(|s| s.starts_with(p))
                }
                other => panic!("an acl the test does not know: {other:?}"),
            }
        };
        for line in lines(config) {
            if let Some(rest) = line.strip_prefix("use_backend ") {
                let (be, cond) = rest.split_once(" if ").unwrap();
                if cond.split_whitespace().all(acl) {
                    return be.to_owned();
                }
            }
        }
        let default = lines(config).into_iter().find_map(|l| l.strip_prefix("default_backend "));
        default.unwrap().to_owned()
    }

    #[test]
    fn every_request_naming_a_session_goes_to_its_owner() {
        let c = config(&["--node", "web=10.0.0.1:7681", "--node", "web-01=10.0.0.2:7681", "--node", "w=h:1"]);
        for (method, path, body, want) in [
            ("GET", "/api/sessions/web.ABf0_Ff3u8bJ-cRcW2lD", "", "be_node_web"),
            ("GET", "/api/sessions/web-01.ABf0_Ff3u8bJ-cRcW2lD", "", "be_node_web-01"),
            ("DELETE", "/api/sessions/web-01.ABf0_Ff3u8bJ-cRcW2lD", "", "be_node_web-01"),
            ("GET", "/api/sessions/web-01.ABf0_Ff3u8bJ-cRcW2lD/ws?token=x", "", "be_node_web-01"),
            ("POST", "/api/sessions/web.ABf0_Ff3u8bJ-cRcW2lD/input", "{}", "be_node_web"),
            ("POST", "/api/sessions/w.ABf0_Ff3u8bJ-cRcW2lD/resize", "{}", "be_node_w"),
            ("GET", "/?s=web-01.AAq3Zk1b9XWvXk2mM7sUu&token=x", "", "be_node_web-01"),
            ("GET", "/?token=x&s=web.AAq3Zk1b9XWvXk2mM7sUu", "", "be_node_web"),
            ("GET", "/play?s=w.AAq3Zk1b9XWvXk2mM7sUu", "", "be_node_w"),
            ("POST", "/api/tokens", r#"{"session": "web-01.AAq3Zk1b9XWvXk2mM7sUu"}"#, "be_node_web-01"),
            ("POST", "/api/tokens", r#"{"mode":"ro","session":"web.AAq3Zk1b9XWvXk2mM7sUu"}"#, "be_node_web"),
            // The path decides over a query that names another node's session.
            ("GET", "/api/sessions/web.ABf0_Ff3u8bJ-cRcW2lD/ws?s=w.AAq3Zk1b9XWvXk2mM7sUu", "", "be_node_web"),
            // Nothing names a session here: any healthy node.
            ("POST", "/api/sessions", "{}", "be_fleet"),
            ("GET", "/api/sessions", "", "be_fleet"),
            ("GET", "/", "", "be_fleet"),
            ("GET", "/ws", "", "be_fleet"),
            ("POST", "/login", "", "be_fleet"),
            ("POST", "/api/tokens", "{}", "be_fleet"),
            ("GET", "/api/sessions/webx.ABf0_Ff3u8bJ-cRcW2lD", "", "be_fleet"),
            ("GET", "/api/sessions/ABf0_Ff3u8bJ-cRcW2lD", "", "be_fleet"),
            ("GET", "/?s=web", "", "be_fleet"),
            ("GET", "/?s=web-0.AAq3Zk1b9XWvXk2mM7sUu", "", "be_fleet"),
        ] {
            assert_eq!(backend(&c, method, path, body), want, "{method} {path} {body}");
        }
    }

    #[test]
    fn a_name_that_is_a_prefix_of_another_never_captures_its_ids() {
        let c = config(&["--node", "web=a:1", "--node", "web-01=b:2"]);
        let l = lines(&c);
        for want in [
            "acl session_web path_beg /api/sessions/web.",
            "acl session_web-01 path_beg /api/sessions/web-01.",
            "acl page_web urlp(s) -m beg web.",
            "acl page_web-01 urlp(s) -m beg web-01.",
            "acl share_web req.body,json_query('$.session') -m beg web.",
        ] {
            assert!(l.contains(&want), "{want}\n{c}");
        }
        assert_eq!(backend(&c, "GET", "/api/sessions/web-01.ABf0_Ff3u8bJ-cRcW2lD", ""), "be_node_web-01");
        assert_eq!(backend(&c, "GET", "/?s=web-01.ABf0_Ff3u8bJ-cRcW2lD", ""), "be_node_web-01");
        // In either order of the --node flags.
        let c = config(&["--node", "web-01=b:2", "--node", "web=a:1"]);
        assert_eq!(backend(&c, "GET", "/api/sessions/web.ABf0_Ff3u8bJ-cRcW2lD", ""), "be_node_web");
        assert_eq!(backend(&c, "GET", "/?s=web.ABf0_Ff3u8bJ-cRcW2lD", ""), "be_node_web");
        assert!(!c.contains("reg"), "exact prefixes, no regex");
    }

    #[test]
    fn the_base_path_prefixes_every_route_and_the_health_check() {
        let c = config(&["--node", "n1=a:1", "--base-path", "/term/x"]);
        let l = lines(&c);
        for want in [
            "acl session_n1 path_beg /term/x/api/sessions/n1.",
            "acl under_base path_beg /term/x/",
            "use_backend be_node_n1 if under_base page_n1",
            "acl share path /term/x/api/tokens",
            "http-check send meth GET uri /term/x/health ver HTTP/1.1 hdr Host localhost",
        ] {
            assert!(l.contains(&want), "{want}\n{c}");
        }
        assert_eq!(backend(&c, "GET", "/term/x/api/sessions/n1.ABf0_Ff3u8bJ-cRcW2lD/ws", ""), "be_node_n1");
        assert_eq!(backend(&c, "GET", "/term/x/?s=n1.ABf0_Ff3u8bJ-cRcW2lD", ""), "be_node_n1");
        assert_eq!(backend(&c, "GET", "/other/?s=n1.ABf0_Ff3u8bJ-cRcW2lD", ""), "be_fleet");
        assert_eq!(backend(&c, "GET", "/api/sessions/n1.ABf0_Ff3u8bJ-cRcW2lD", ""), "be_fleet");
    }

    #[test]
    fn the_fleet_backend_is_health_checked_and_the_owners_are_not() {
        let c = config(&[
            "--node",
            "n1=10.0.0.1:7681",
            "--node",
            "n2=[fd00::2]:7682",
            "--host",
            "term.example.com",
        ]);
        let l = lines(&c);
        let fleet = l.iter().position(|x| *x == "backend be_fleet").unwrap();
        let n1 = l.iter().position(|x| *x == "backend be_node_n1").unwrap();
        for want in [
            "balance leastconn",
            "option httpchk",
            "http-check send meth GET uri /health ver HTTP/1.1 hdr Host term.example.com",
            "http-check expect status 200",
            "default-server inter 1s fall 2 rise 2",
            "server n1 10.0.0.1:7681 check",
            "server n2 [fd00::2]:7682 check",
        ] {
            assert!(l[fleet..n1].contains(&want), "{want}\n{c}");
        }
        assert_eq!(l[n1 + 1], "server n1 10.0.0.1:7681");
        assert!(l.contains(&"backend be_node_n2") && l.contains(&"server n2 [fd00::2]:7682"));
        for want in [
            "mode http",
            "option forwardfor",
            "timeout connect 5s",
            "timeout client 60s",
            "timeout server 60s",
            "timeout tunnel 1h",
            "timeout http-request 10s",
            "bind 0.0.0.0:8080",
            "http-request del-header X-Forwarded-For",
            "default_backend be_fleet",
        ] {
            assert!(l.contains(&want), "{want}\n{c}");
        }
        assert!(!c.contains("listen stats") && !c.contains("ssl"));
    }

    #[test]
    fn the_header_names_the_command_and_what_the_nodes_run_with() {
        let c = config(&["--node", "n1=10.0.0.1:7681", "--bind", "127.0.0.1:80", "--base-path", "/t"]);
        let version = format!("generated by ringtty {}:", env!("CARGO_PKG_VERSION"));
        assert!(c.lines().next().unwrap().contains(&version), "{c}");
        let l = lines(&c);
        assert!(l.contains(
            &"#   ringtty fleet haproxy-config --node n1=10.0.0.1:7681 --bind 127.0.0.1:80 --base-path /t"
        ));
        for want in
            ["--auth-secret-file", "--node-id NAME", "--allow-host PUBLIC_NAME", "--trusted-proxy IP/32"]
        {
            assert!(c.lines().any(|x| x.starts_with("#") && x.contains(want)), "{want}\n{c}");
        }
        assert!(
            c.contains("#   ringtty --node-id NAME -i ADDR -p PORT -b /t --auth-secret-file FILE \\\n"),
            "{c}"
        );
        assert!(l.contains(&"#   --node-id n1  at 10.0.0.1:7681"), "{c}");
        // Every line before `global` is a comment or empty.
        assert!(c.lines().take_while(|x| *x != "global").all(|x| x.is_empty() || x.starts_with('#')));
    }

    #[test]
    fn tls_backends_and_the_stats_page() {
        let c = config(&["--node", "n1=node1.internal:7681", "--tls-backend", "--stats", "127.0.0.1:8404"]);
        let l = lines(&c);
        assert!(l.contains(
            &"server n1 node1.internal:7681 check ssl verify required ca-file /etc/ringtty/ca.pem"
        ));
        assert!(l.contains(&"server n1 node1.internal:7681 ssl verify required ca-file /etc/ringtty/ca.pem"));
        assert!(
            c.contains("-S -C CERT.pem -K KEY.pem") && c.contains("the CA in /etc/ringtty/ca.pem\n"),
            "{c}"
        );
        let stats = l.iter().position(|x| *x == "listen stats").unwrap();
        assert_eq!(l[stats + 1..stats + 4], ["bind 127.0.0.1:8404", "stats enable", "stats uri /"]);
        assert!(c.contains("--tls-backend --stats 127.0.0.1:8404"));
    }

    #[test]
    fn bad_input_is_refused_with_the_flag_named() {
        for (extra, needle) in [
            (&[][..], "at least one --node"),
            (&["--node", "n1"], "--node n1: give NAME=HOST:PORT"),
            (&["--node", "=a:1"], "is no node id"),
            (&["--node", "a.b=a:1"], "is no node id"),
            (&["--node", &*format!("{}=a:1", "x".repeat(33))], "is no node id"),
            (&["--node", "n1=a:1", "--node", "n1=b:2"], "given twice"),
            (&["--node", "n1=a"], "give HOST:PORT"),
            (&["--node", "n1=a:0"], "from 1 to 65535"),
            (&["--node", "n1=a:65536"], "from 1 to 65535"),
            (&["--node", "n1=a:+80"], "from 1 to 65535"),
            (&["--node", "n1=a:"], "from 1 to 65535"),
            (&["--node", "n1=:80"], "no host name"),
            (&["--node", "n1=a b:80"], "no host name"),
            (&["--node", "n1=a#b:80"], "no host name"),
            (&["--node", "n1=-a:80"], "no host name"),
            (&["--node", "n1=a..b:80"], "no host name"),
            (&["--node", "n1=10.0.0.256:80"], "no host name"),
            (&["--node", "n1=::1:80"], "in brackets"),
            (&["--node", "n1=[::g]:80"], "no host name"),
            (&["--node", "n1=[::1]"], "give HOST:PORT"),
            (&["--node", "n1=[::1]x:80"], "give HOST:PORT"),
            (&["--node", "n1=a:1", "--bind", "8080"], "--bind 8080"),
            (&["--node", "n1=a:1", "--bind", "*:8080"], "--bind *:8080"),
            (&["--node", "n1=a:1", "--stats", "x:0"], "--stats x:0"),
            (&["--node", "n1=a:1", "--base-path", "term"], "--base-path term"),
            (&["--node", "n1=a:1", "--base-path", "/term/"], "without a trailing /"),
            (&["--node", "n1=a:1", "--base-path", "/"], "--base-path /"),
            (&["--node", "n1=a:1", "--base-path", "/a b"], "--base-path"),
            (&["--node", "n1=a:1", "--base-path", "/a\"b"], "--base-path"),
            (&["--node", "n1=a:1", "--base-path", "/$HOME"], "--base-path"),
            (&["--node", "n1=a:1", "--base-path", "/a#b"], "--base-path"),
            (&["--node", "n1=a:1", "--host", "a.example:80"], "--host"),
            (&["--node", "n1=a:1", "--host", "a\"b"], "--host"),
        ] {
            let e = haproxy_config(&args(extra)).expect_err(needle);
            assert!(e.contains(needle), "{extra:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn fleet_is_a_subcommand_only_as_the_first_argument() {
        let argv = |args: &[&str]| args.iter().map(OsString::from).collect::<Vec<_>>();
        let subcommand = |args: &[&str]| crate::cli_tools::subcommand(&argv(args));
        assert_eq!(subcommand(&["ringtty", "fleet", "haproxy-config"]), Some("fleet"));
        for not in [&["ringtty", "--", "fleet"][..], &["ringtty", "-W", "fleet"], &["ringtty", "fleets"]] {
            assert_eq!(subcommand(not), None, "{not:?}");
        }
    }

    #[test]
    fn good_addresses_are_written_as_haproxy_reads_them() {
        for (raw, want) in [
            ("10.0.0.1:7681", "10.0.0.1:7681"),
            ("[::1]:7681", "[::1]:7681"),
            ("[FD00:0::2]:1", "[fd00::2]:1"),
            ("node1.internal:65535", "node1.internal:65535"),
            ("ringtty_node_1:7681", "ringtty_node_1:7681"),
            ("localhost:7681", "localhost:7681"),
            ("a1-b.c2:7681", "a1-b.c2:7681"),
        ] {
            assert_eq!(address("--node", raw).map(|a| a.to_string()), Ok(want.to_owned()), "{raw}");
        }
    }
}
