//! The order jail(8) works through jails in: `depend` (and the implied
//! dependency of `a.b` on `a`) makes dependencies start first and stop
//! last; jails pulled in by a dependency are started (or stopped) with the
//! ones named; undefined dependencies and dependency loops fail the jails
//! that have them, with jail(8)'s messages. jmk runs one jail at a time,
//! which is one of the orders jail(8)'s parallel runs allow.

use std::collections::{HashMap, VecDeque};

/// Which way dependencies point for an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Creating: a jail's dependencies go first.
    Up,
    /// Removing: the jails that depend on a jail go first.
    Down,
}

/// One jail to act on, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its index in the graph.
    pub jail: usize,
    /// Whether it was selected (by name, wildcard or as "all"), rather than
    /// pulled in only because of a dependency.
    pub selected: bool,
}

/// The jails of a configuration and their dependencies.
#[derive(Debug, Clone)]
pub struct Graph {
    names: Vec<String>,
    /// `deps[i]`: the jails `i` depends on.
    deps: Vec<Vec<usize>>,
    /// `dependents[i]`: the jails that depend on `i`, in the order the
    /// dependencies were found.
    dependents: Vec<Vec<usize>>,
    /// Why a jail fails before anything is done to it.
    broken: Vec<Option<String>>,
}

impl Graph {
    /// The graph of `jails` (name and `depend` values, in configuration
    /// order). A dependency on a jail the configuration does not define
    /// breaks the jail (`depends on undefined jail "X"`); so does being
    /// part of a loop (`dependency loop`), found as jail(8) finds it: the
    /// first jail left waiting in configuration order is broken and the
    /// jails waiting for it go on.
    pub fn new(jails: &[(String, Vec<String>)]) -> Self {
        let n = jails.len();
        // A name two blocks share is the first's (as `index` finds it).
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, (name, _)) in jails.iter().enumerate() {
            index.entry(name.as_str()).or_insert(i);
        }
        let mut g = Graph {
            names: jails.iter().map(|(name, _)| name.clone()).collect(),
            deps: vec![Vec::new(); n],
            dependents: vec![Vec::new(); n],
            broken: vec![None; n],
        };
        for (i, (name, depends)) in jails.iter().enumerate() {
            for d in depends {
                match index.get(d.as_str()) {
                    Some(&j) => g.add(i, j),
                    None => {
                        g.broken[i]
                            .get_or_insert_with(|| format!("depends on undefined jail \"{d}\""));
                    }
                }
            }
            // A jail has an implied dependency on its parent.
            if let Some((parent, _)) = name.rsplit_once('.') {
                if let Some(&j) = index.get(parent) {
                    g.add(i, j);
                }
            }
        }
        let all: Vec<usize> = (0..n).collect();
        for stuck in g.stuck(&all, Direction::Up) {
            g.broken[stuck].get_or_insert_with(|| "dependency loop".to_string());
        }
        g
    }

    fn add(&mut self, from: usize, to: usize) {
        if from != to && !self.deps[from].contains(&to) {
            self.deps[from].push(to);
            self.dependents[to].push(from);
        }
        if from == to {
            self.broken[from].get_or_insert_with(|| "dependency loop".to_string());
        }
    }

    /// The number of jails.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no jails.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name of jail `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The index of the jail named `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Why jail `i` fails before anything is done, if it does.
    pub fn broken(&self, i: usize) -> Option<&str> {
        self.broken[i].as_deref()
    }

    /// The jails that must be done before `i` in direction `dir`.
    pub fn before(&self, i: usize, dir: Direction) -> &[usize] {
        match dir {
            Direction::Up => &self.deps[i],
            Direction::Down => &self.dependents[i],
        }
    }

    fn after(&self, i: usize, dir: Direction) -> &[usize] {
        match dir {
            Direction::Up => &self.dependents[i],
            Direction::Down => &self.deps[i],
        }
    }

    /// The jails that a dependency loop keeps waiting when working through
    /// `set` in direction `dir`, each released in turn as jail(8) does.
    fn stuck(&self, set: &[usize], dir: Direction) -> Vec<usize> {
        let mut stuck = Vec::new();
        self.walk(set, dir, |i, waiting| {
            if waiting {
                stuck.push(i);
            }
        });
        stuck
    }

    /// Work through `set` (in configuration order) in direction `dir`:
    /// jails whose predecessors in `set` are done go first come, first
    /// served; when every jail left waits for another, the first of them
    /// in configuration order goes anyway (`visit(i, true)`).
    fn walk(&self, set: &[usize], dir: Direction, mut visit: impl FnMut(usize, bool)) {
        let mut member = vec![false; self.len()];
        for &i in set {
            member[i] = true;
        }
        let mut waiting: Vec<usize> = vec![0; self.len()];
        for &i in set {
            waiting[i] = self.before(i, dir).iter().filter(|&&j| member[j]).count();
        }
        let mut ready: VecDeque<usize> = set.iter().copied().filter(|&i| waiting[i] == 0).collect();
        let mut done = vec![false; self.len()];
        let mut left = set.len();
        while left > 0 {
            let (i, forced) = match ready.pop_front() {
                Some(i) => (i, false),
                None => match set.iter().copied().find(|&i| !done[i]) {
                    Some(i) => (i, true),
                    None => break,
                },
            };
            if done[i] {
                continue;
            }
            done[i] = true;
            left -= 1;
            visit(i, forced);
            for &k in self.after(i, dir) {
                if member[k] && !done[k] {
                    waiting[k] = waiting[k].saturating_sub(1);
                    if waiting[k] == 0 {
                        ready.push_back(k);
                    }
                }
            }
        }
    }

    /// Every jail reached from `selected` through dependencies in direction
    /// `dir` (dependencies for `Up`, dependents for `Down`), the selected
    /// ones included, in configuration order.
    pub fn closure(&self, selected: &[usize], dir: Direction) -> Vec<usize> {
        let mut member = vec![false; self.len()];
        let mut todo: Vec<usize> = selected.to_vec();
        while let Some(i) = todo.pop() {
            if !std::mem::replace(&mut member[i], true) {
                todo.extend(self.before(i, dir).iter().copied());
            }
        }
        (0..self.len()).filter(|&i| member[i]).collect()
    }

    /// The jails to act on for `selected` in direction `dir`, in the order
    /// to act on them: those pulled in by dependencies included, every
    /// jail after the ones it waits for.
    pub fn order(&self, selected: &[usize], dir: Direction) -> Vec<Step> {
        let set = self.closure(selected, dir);
        let mut out = Vec::with_capacity(set.len());
        self.walk(&set, dir, |i, _| {
            out.push(Step {
                jail: i,
                selected: selected.contains(&i),
            })
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(spec: &[(&str, &[&str])]) -> Graph {
        let jails: Vec<(String, Vec<String>)> = spec
            .iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect();
        Graph::new(&jails)
    }

    fn names(g: &Graph, steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| format!("{}{}", g.name(s.jail), if s.selected { "" } else { "+" }))
            .collect()
    }

    #[test]
    fn dependencies_start_first_and_stop_last() {
        let g = graph(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &["db"]),
            ("other", &[]),
        ]);
        let all: Vec<usize> = (0..g.len()).collect();
        assert_eq!(
            names(&g, &g.order(&all, Direction::Up)),
            ["db", "other", "cache", "web"]
        );
        assert_eq!(
            names(&g, &g.order(&all, Direction::Down)),
            ["web", "other", "cache", "db"]
        );
        // one jail: its dependencies are pulled in (marked +)
        let web = g.index("web").unwrap();
        assert_eq!(
            names(&g, &g.order(&[web], Direction::Up)),
            ["db+", "cache+", "web"]
        );
        // stopping db stops what depends on it first
        let db = g.index("db").unwrap();
        assert_eq!(
            names(&g, &g.order(&[db], Direction::Down)),
            ["web+", "cache+", "db"]
        );
        assert_eq!(names(&g, &g.order(&[web], Direction::Down)), ["web"]);
    }

    #[test]
    fn undefined_dependencies_and_loops_break_jails() {
        let g = graph(&[
            ("a", &["b"]),
            ("b", &["a"]),
            ("c", &["nowhere"]),
            ("d", &["a"]),
            ("e", &[]),
            ("s", &["s"]),
        ]);
        assert_eq!(g.broken(0), Some("dependency loop"));
        assert_eq!(
            g.broken(1),
            None,
            "released by a's failure; skipped when it runs"
        );
        assert_eq!(g.broken(2), Some("depends on undefined jail \"nowhere\""));
        assert_eq!(g.broken(3), None);
        assert_eq!(g.broken(4), None);
        assert_eq!(g.broken(5), Some("dependency loop"));
        let all: Vec<usize> = (0..g.len()).collect();
        let order = names(&g, &g.order(&all, Direction::Up));
        assert_eq!(order, ["c", "e", "s", "a", "b", "d"]);
    }

    #[test]
    fn parents_come_before_children() {
        let g = graph(&[("a.b", &[]), ("a", &[]), ("a.b.c", &[])]);
        let all: Vec<usize> = (0..g.len()).collect();
        assert_eq!(
            names(&g, &g.order(&all, Direction::Up)),
            ["a", "a.b", "a.b.c"]
        );
        assert_eq!(
            names(&g, &g.order(&all, Direction::Down)),
            ["a.b.c", "a.b", "a"]
        );
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let n = 20_000;
        let jails: Vec<(String, Vec<String>)> = (0..n)
            .map(|i| {
                (
                    format!("j{i}"),
                    if i + 1 < n {
                        vec![format!("j{}", i + 1)]
                    } else {
                        vec![]
                    },
                )
            })
            .collect();
        let g = Graph::new(&jails);
        let order = g.order(&[0], Direction::Up);
        assert_eq!(order.len(), n);
        assert_eq!(g.name(order[0].jail), format!("j{}", n - 1));
        assert!(order.last().unwrap().selected);
    }
}
