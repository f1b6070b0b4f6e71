//! Matching an expected table against an observed one, with port variables bound by
//! unification.

use std::fmt;
use std::net::SocketAddr;

use tcpconform_model::{Env, Host, Port, Row, Snapshot, Var};

use super::print::row_text;
use super::{AddrPattern, RowPattern, UnlistedRows};

/// How many candidate pairings the search may try before it gives up (tables are small; this
/// only bounds pathological inputs).
const SEARCH_BUDGET: usize = 200_000;

/// Why an observed table is not the expected one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableMismatch {
    /// Expected rows that no observed row matched (as written, variables by name).
    pub missing: Vec<RowPattern>,
    /// Observed rows that no expected row matched, with ports named through the environment.
    pub unexpected: Vec<RowPattern>,
    /// The whole observed table, with ports named through the environment.
    pub observed: Vec<RowPattern>,
    /// Whether the search for a matching gave up (a pathological table): the lists above then
    /// come from a partial pairing.
    pub gave_up: bool,
}

impl fmt::Display for TableMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_host = self
            .missing
            .iter()
            .chain(&self.observed)
            .any(|r| r.host != Host::A);
        let show = |r: &RowPattern| row_text(r, with_host, 10, 24, 24).trim_end().to_owned();
        writeln!(f, "the socket table is not the expected one")?;
        for r in &self.missing {
            writeln!(f, "  missing:    {}", show(r))?;
        }
        for r in &self.unexpected {
            writeln!(f, "  unexpected: {}", show(r))?;
        }
        if self.gave_up {
            writeln!(
                f,
                "  (gave up looking for a pairing after {SEARCH_BUDGET} tries; the rows above \
                 come from a partial one)"
            )?;
        }
        writeln!(f, "observed table:")?;
        if self.observed.is_empty() {
            writeln!(f, "    | (empty)")?;
        }
        for r in &self.observed {
            writeln!(f, "    | {}", show(r))?;
        }
        Ok(())
    }
}

impl std::error::Error for TableMismatch {}

/// Writes an observed row as a pattern: ports that a variable of `env` holds are written as that
/// variable (the first by name), `q=N` only when the queue is not empty.
pub fn row_pattern_from(row: &Row, env: &Env) -> RowPattern {
    let addr = |a: SocketAddr| AddrPattern {
        ip: a.ip(),
        port: match env.name_of(a.port()) {
            Some(name) => Port::Var(Var(name.trim_start_matches('$').to_owned())),
            None => Port::Lit(a.port()),
        },
    };
    RowPattern {
        host: row.host,
        state: row.state,
        local: addr(row.local),
        peer: row.peer.map(addr),
        queue: (row.queue != 0).then_some(row.queue),
    }
}

/// Checks that the observed table holds exactly the expected rows (as a multiset: every row
/// matched by one pattern, every pattern by one row).
///
/// A port variable bound in `env` must equal its value; an unbound one matches any port and is
/// bound by the match, the same value wherever it appears in the table. When the table matches,
/// the new bindings are added to `env`; when it does not, `env` is left as it was. `q=N`
/// compares the queue; a pattern without it does not look at the queue.
pub fn match_table(
    patterns: &[RowPattern],
    snapshot: &Snapshot,
    env: &mut Env,
) -> Result<(), TableMismatch> {
    match_partial_table(patterns, None, snapshot, env)
}

/// [`match_table`] for a table that may list only some rows (`| ...`): every pattern must be
/// matched by one observed row, and each observed row that no pattern matches must be one
/// `unlisted` allows (`None`: none may be left, the whole table). Variables bind only when
/// the listed rows all match.
pub fn match_partial_table(
    patterns: &[RowPattern],
    unlisted: Option<&UnlistedRows>,
    snapshot: &Snapshot,
    env: &mut Env,
) -> Result<(), TableMismatch> {
    let rows = snapshot.key();
    // Try the patterns with the fewest unbound variables first: they prune soonest.
    let mut order: Vec<usize> = (0..patterns.len()).collect();
    order.sort_by_key(|&i| unbound_count(&patterns[i], env));
    let mut search = Search {
        patterns,
        order: &order,
        rows: &rows,
        env,
        used: vec![false; rows.len()],
        pairs: vec![None; patterns.len()],
        new: Vec::new(),
        budget: SEARCH_BUDGET,
        best: None,
        unlisted,
    };
    let sizes_fit = match unlisted {
        None => patterns.len() == rows.len(),
        Some(_) => patterns.len() <= rows.len(),
    };
    if sizes_fit && search.full(0) {
        for (name, port) in &search.new {
            env.bind(&Var(name.clone()), *port);
        }
        return Ok(());
    }
    let gave_up = search.budget == 0;
    // Explain: the best partial pairing found (or a fresh greedy one).
    let pairs = match search.best.take() {
        Some(p) => p,
        None => search.greedy(),
    };
    let matched_rows: Vec<usize> = pairs.iter().flatten().copied().collect();
    Err(TableMismatch {
        missing: pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_none())
            .map(|(i, _)| patterns[i].clone())
            .collect(),
        unexpected: (0..rows.len())
            .filter(|j| !matched_rows.contains(j))
            .filter(|&j| !unlisted.is_some_and(|u| u.allows(rows[j].state)))
            .map(|j| row_pattern_from(&rows[j], env))
            .collect(),
        observed: rows.iter().map(|r| row_pattern_from(r, env)).collect(),
        gave_up,
    })
}

fn unbound_count(p: &RowPattern, env: &Env) -> usize {
    std::iter::once(&p.local)
        .chain(p.peer.as_ref())
        .filter(|a| matches!(&a.port, Port::Var(v) if env.get(v).is_none()))
        .count()
}

struct Search<'a> {
    patterns: &'a [RowPattern],
    order: &'a [usize],
    rows: &'a [Row],
    env: &'a Env,
    used: Vec<bool>,
    /// For each pattern, the row it is paired with.
    pairs: Vec<Option<usize>>,
    /// Variables bound so far by this search (a stack, undone on backtracking).
    new: Vec<(String, u16)>,
    budget: usize,
    /// The pairing with the most pairs seen so far (for the explanation).
    best: Option<Vec<Option<usize>>>,
    /// The rows a partial table allows unmatched (`None`: none).
    unlisted: Option<&'a UnlistedRows>,
}

impl Search<'_> {
    /// Depth-first search for a complete pairing of `order[k..]`.
    fn full(&mut self, k: usize) -> bool {
        let Some(&pi) = self.order.get(k) else {
            return self.leftovers_allowed();
        };
        for j in 0..self.rows.len() {
            if self.used[j] {
                continue;
            }
            // Equal rows lead to equal subproblems: try only the first unused one.
            if j > 0 && !self.used[j - 1] && self.rows[j - 1] == self.rows[j] {
                continue;
            }
            if self.budget == 0 {
                return false;
            }
            self.budget -= 1;
            let mark = self.new.len();
            if self.row_matches(pi, j) {
                self.used[j] = true;
                self.pairs[pi] = Some(j);
                self.note_best();
                if self.full(k + 1) {
                    return true;
                }
                self.used[j] = false;
                self.pairs[pi] = None;
            }
            self.new.truncate(mark);
        }
        false
    }

    /// Whether every row no pattern took may stay unlisted.
    fn leftovers_allowed(&self) -> bool {
        self.rows
            .iter()
            .zip(&self.used)
            .all(|(row, used)| *used || self.unlisted.is_some_and(|u| u.allows(row.state)))
    }

    fn note_best(&mut self) {
        let n = self.pairs.iter().flatten().count();
        let best = self.best.as_ref().map_or(0, |b| b.iter().flatten().count());
        if n > best {
            self.best = Some(self.pairs.clone());
        }
    }

    /// Pairs each pattern in order with the first unused row it matches.
    fn greedy(&mut self) -> Vec<Option<usize>> {
        self.used.iter_mut().for_each(|u| *u = false);
        self.pairs.iter_mut().for_each(|p| *p = None);
        self.new.clear();
        for &pi in self.order {
            for j in 0..self.rows.len() {
                if self.used[j] {
                    continue;
                }
                let mark = self.new.len();
                if self.row_matches(pi, j) {
                    self.used[j] = true;
                    self.pairs[pi] = Some(j);
                    break;
                }
                self.new.truncate(mark);
            }
        }
        self.pairs.clone()
    }

    /// Whether pattern `pi` matches row `j`, binding unbound variables (pushed on `new`; the
    /// caller truncates on failure).
    fn row_matches(&mut self, pi: usize, j: usize) -> bool {
        let p = &self.patterns[pi];
        let r = &self.rows[j];
        if p.host != r.host || p.state != r.state || p.queue.is_some_and(|q| q != r.queue) {
            return false;
        }
        if !self.addr_matches(&p.local, r.local) {
            return false;
        }
        match (&p.peer, r.peer) {
            (None, None) => true,
            (Some(pp), Some(rp)) => self.addr_matches(pp, rp),
            _ => false,
        }
    }

    fn addr_matches(&mut self, p: &AddrPattern, a: SocketAddr) -> bool {
        if p.ip != a.ip() {
            return false;
        }
        match &p.port {
            Port::Lit(n) => *n == a.port(),
            Port::Var(v) => {
                if let Some(n) = self.env.get(v) {
                    return n == a.port();
                }
                if let Some((_, n)) = self.new.iter().find(|(name, _)| *name == v.0) {
                    return *n == a.port();
                }
                self.new.push((v.0.clone(), a.port()));
                true
            }
        }
    }
}
