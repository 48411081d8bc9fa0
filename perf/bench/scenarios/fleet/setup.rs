//! The fleet scenario's setup and teardown: the key, the nodes and their names, the
//! totals before the run, the sessions it creates on every node, and their removal.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use ringtty::auth::{secret_from_file, Key, SecretRefusal};
use serde_json::json;
use tokio::time::{timeout, Instant};

use super::wire::{connect, get, request, with_token};
use super::{check_list, Fleet, Node, KILL_USER, LIST_USER};
use crate::http::{HttpConn, Target};
use crate::scenarios::{bounded, create_on, remove};
use crate::Ctx;

/// The nodes' secret, read as ringtty reads `--auth-secret-file`.
pub(super) fn read_key(path: Option<&Path>) -> Result<Key, String> {
    use std::os::unix::fs::PermissionsExt;
    let path =
        path.ok_or("needs --secret-file FILE (the nodes' --auth-secret-file) to mint its users' tokens")?;
    let shown = path.display();
    let contents = std::fs::read(path).map_err(|e| format!("--secret-file {shown}: {e}"))?;
    let mode =
        std::fs::metadata(path).map_err(|e| format!("--secret-file {shown}: {e}"))?.permissions().mode();
    match secret_from_file(&contents, mode) {
        Ok(secret) => Ok(Key::new(secret)),
        Err(SecretRefusal::TooShort { len }) => Err(format!("--secret-file {shown}: {len} bytes, not a key")),
        Err(SecretRefusal::TooLong) => Err(format!("--secret-file {shown}: too long to be a key")),
        Err(SecretRefusal::Exposed { .. }) => {
            Err(format!("--secret-file {shown}: readable by others (chmod 600)"))
        }
    }
}

/// --url and --nodes (once each, by address), each named by its own `GET /api/fleet`
/// once every node sees all the others: a node not yet heard from would be left out of
/// a fleet-wide answer without making it partial.
pub(super) async fn named_nodes(ctx: &Ctx) -> Result<Vec<Node>, String> {
    let mut targets = vec![ctx.target.clone()];
    for url in ctx.args.nodes.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        let mut t = Target::new(url, ctx.target.token.clone()).map_err(|e| format!("--nodes: {e}"))?;
        if targets.iter().any(|x| x.addr == t.addr) {
            continue;
        }
        if ctx.target.tls.is_some() || Target::is_https(url) {
            let ca = ctx.args.ca_file.as_deref().ok_or("--nodes: an https:// node needs --ca-file FILE")?;
            t.use_tls(ca, !ctx.args.no_resumption)?;
        }
        targets.push(t);
    }
    let mut conns = Vec::new();
    for t in &targets {
        let conn = HttpConn::connect(t).await.map_err(|e| format!("{}: {e}", t.url))?;
        conns.push(conn);
    }
    let auth = get(ctx, &mut conns[0], "/api/auth").await?;
    if auth.json().and_then(|v| v["user"]["admin"].as_bool()) != Some(true) {
        return Err("the token must be an admin's (`ringtty token --admin`): the kill switch, revocation \
                    and the list of every user's sessions need it"
            .into());
    }
    let deadline = Instant::now() + ctx.args.timeout;
    loop {
        let mut names = Vec::new();
        let mut seen = Vec::new();
        for (t, conn) in targets.iter().zip(&mut conns) {
            let v = get(ctx, conn, "/api/fleet").await?.json().unwrap_or_default();
            if v["nats"] == "off" {
                return Err(format!("{} runs without --nats: not a fleet", t.url));
            }
            let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
            let me = nodes.iter().find(|x| x["self"] == true).and_then(|x| x["node"].as_str());
            names.push(me.unwrap_or_default().to_string());
            let heard: HashSet<String> =
                nodes.iter().filter_map(|x| Some(x["node"].as_str()?.to_string())).collect();
            seen.push((v["nats"] == "connected", heard));
        }
        let distinct: HashSet<&String> = names.iter().collect();
        if names.iter().any(|x| x.is_empty()) || distinct.len() != names.len() {
            return Err(format!("the nodes must have distinct --node-id names: {names:?}"));
        }
        if seen.iter().all(|(up, heard)| *up && names.iter().all(|x| heard.contains(x))) {
            return Ok(names.into_iter().zip(targets).map(|(name, admin)| Node { name, admin }).collect());
        }
        if Instant::now() >= deadline {
            return Err(format!("the nodes {names:?} did not all see each other over NATS within --timeout"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A token minted with --secret-file must name its user on every node (`GET /api/auth`
/// says `"user": null` for a token minted with another key, without a 401 that would
/// end the run before its cleanup).
pub(super) async fn check_minted(ctx: &Ctx, fleet: &Fleet) -> Result<(), String> {
    let token = fleet.mint(LIST_USER, None);
    for node in &fleet.nodes {
        let mut conn = connect(&with_token(&node.admin, &token)).await?;
        let v = get(ctx, &mut conn, "/api/auth").await?.json().unwrap_or_default();
        if v["user"]["sub"] != LIST_USER {
            return Err(format!(
                "node {}: a token minted with --secret-file is refused: not its key?",
                node.name
            ));
        }
    }
    Ok(())
}

/// The fleet's total and each node's own, before the run adds its sessions.
pub(super) struct Base {
    pub(super) fleet: usize,
    pub(super) local: Vec<usize>,
}

pub(super) async fn baselines(ctx: &Ctx, fleet: &Fleet) -> Result<Base, String> {
    let mut local = Vec::new();
    let mut total = 0;
    for (i, node) in fleet.nodes.iter().enumerate() {
        let mut conn = connect(&node.admin).await?;
        if i == 0 {
            let resp = get(ctx, &mut conn, "/api/sessions?scope=fleet&limit=1").await?;
            total = check_list(&resp, None, fleet.n())
                .map_err(|e| format!("node {}: fleet list: {e}", node.name))?;
        }
        let resp = get(ctx, &mut conn, "/api/sessions?limit=1").await?;
        local.push(check_list(&resp, None, 0).map_err(|e| format!("node {}: list: {e}", node.name))?);
    }
    Ok(Base { fleet: total, local })
}

/// `per_node` sessions (child `cat`) on every node for the user of `token`, by
/// --concurrency keep-alive clients per node; each id is recorded for the cleanup as
/// soon as it exists. The ids per node, or the first failure.
pub(super) async fn create_everywhere(
    ctx: &Rc<Ctx>,
    fleet: &Rc<Fleet>,
    token: &str,
    per_node: usize,
) -> Result<Vec<Vec<String>>, String> {
    let n = fleet.n();
    let workers = ctx.args.concurrency.clamp(1, per_node.max(1));
    let left: Rc<Vec<Cell<usize>>> = Rc::new((0..n).map(|_| Cell::new(per_node)).collect());
    let made = Rc::new(RefCell::new(vec![Vec::new(); n]));
    let failed: Rc<RefCell<Option<String>>> = Rc::default();
    let token: Rc<str> = token.into();
    let fail = |failed: &RefCell<Option<String>>, why: String| {
        failed.borrow_mut().get_or_insert(why);
    };
    bounded(n * workers, n * workers, |i| {
        let (ctx, fleet, left, made, failed, token) =
            (ctx.clone(), fleet.clone(), left.clone(), made.clone(), failed.clone(), token.clone());
        async move {
            let node = i % n;
            let name = &fleet.nodes[node].name;
            let mut conn = match connect(&with_token(&fleet.nodes[node].admin, &token)).await {
                Ok(c) => c,
                Err(e) => return fail(&failed, format!("node {name}: {e}")),
            };
            while left[node].get() > 0 && failed.borrow().is_none() {
                left[node].set(left[node].get() - 1);
                let id = match timeout(ctx.args.timeout, create_on(&ctx, &mut conn, &["cat"])).await {
                    Ok(Ok(id)) => id,
                    Ok(Err(e)) => return fail(&failed, format!("node {name}: {e}")),
                    Err(_) => return fail(&failed, format!("node {name}: create: no answer")),
                };
                fleet.made.borrow_mut()[node].push(id.clone());
                made.borrow_mut()[node].push(id);
                ctx.progress.add_done(1);
            }
        }
    })
    .await;
    match failed.take() {
        Some(e) => Err(e),
        None => Ok(made.take()),
    }
}

// ---- cleanup --------------------------------------------------------------------------

/// The kill switch for the run's users (every session at once), then each session
/// removed on its node. Returns how many are left.
pub(super) async fn cleanup(ctx: &Rc<Ctx>, fleet: &Rc<Fleet>) -> usize {
    if fleet.made.borrow().iter().all(Vec::is_empty) {
        return 0;
    }
    if let Ok(mut admin) = connect(&fleet.nodes[0].admin).await {
        for user in [LIST_USER, KILL_USER] {
            let body = serde_json::to_vec(&json!({ "user": user })).unwrap_or_default();
            let _ = request(ctx, &mut admin, "POST", "/api/admin/kill", Some(&body)).await;
        }
    }
    let all = fleet.made.borrow().clone();
    let _ = remove_made(ctx, fleet, all).await;
    fleet.made.borrow().iter().map(Vec::len).sum()
}

/// Removes `ids` (per node) on their nodes, --concurrency at once per node, and forgets
/// those removed; Err names how many could not be.
pub(super) async fn remove_made(
    ctx: &Rc<Ctx>,
    fleet: &Rc<Fleet>,
    ids: Vec<Vec<String>>,
) -> Result<(), String> {
    let n = fleet.n();
    let queues: Rc<Vec<RefCell<Vec<String>>>> = Rc::new(ids.into_iter().map(RefCell::new).collect());
    let workers = ctx.args.concurrency.max(1);
    let gone: Rc<RefCell<HashSet<String>>> = Rc::default();
    let failed = Rc::new(Cell::new(0usize));
    bounded(n * workers, n * workers, |i| {
        let (ctx, fleet, queues, gone, failed) =
            (ctx.clone(), fleet.clone(), queues.clone(), gone.clone(), failed.clone());
        async move {
            let node = i % n;
            let Ok(mut conn) = HttpConn::connect(&fleet.nodes[node].admin).await else { return };
            loop {
                let Some(id) = queues[node].borrow_mut().pop() else { return };
                // Twice --timeout: remove waits up to --timeout for the exit.
                match timeout(2 * ctx.args.timeout, remove(&ctx, &mut conn, &id)).await {
                    Ok(Ok(())) => {
                        gone.borrow_mut().insert(id);
                    }
                    _ => {
                        failed.set(failed.get() + 1);
                        let Ok(c) = HttpConn::connect(&fleet.nodes[node].admin).await else { return };
                        conn = c;
                    }
                }
            }
        }
    })
    .await;
    let gone = gone.take();
    for ids in fleet.made.borrow_mut().iter_mut() {
        ids.retain(|id| !gone.contains(id));
    }
    match failed.get() {
        0 => Ok(()),
        f => Err(format!("{f} sessions could not be removed")),
    }
}
