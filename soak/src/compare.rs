//! `vpbx-soak compare --against REV_OR_BINARY`: the bench for two switch binaries in one run.
//!
//! The new binary is `--switch-bin`; the old one is the argument when it is an existing file,
//! otherwise a git revision built here (`git worktree add` into a temp dir, `cargo build --release
//! -p vpbx` there with its own target dir, the binary copied out, the worktree removed). The
//! ceiling is measured once; then every section runs for the new binary and at once for the old
//! one (new, old, new, old, ...), so that a drift of the machine during the run hits both alike.
//! Every figure is printed for both with the ratio new / old.

use crate::bench::{self, rows, BenchArgs, Ctx, Figures, Section, SECTIONS};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Args, Clone, Debug)]
pub(crate) struct CompareArgs {
    /// The old switch: a binary, or a git revision to build.
    #[arg(long)]
    pub(crate) against: String,
    #[command(flatten)]
    pub(crate) bench: BenchArgs,
}

/// Builds `rev` in a temporary worktree; returns the copied-out binary (in `dir`).
fn build_rev(rev: &str, dir: &Path) -> Result<PathBuf, String> {
    let wt = dir.join("worktree");
    let run = |c: &mut Command, what: &str| -> Result<(), String> {
        let st = c.status().map_err(|e| format!("{what}: {e}"))?;
        st.success()
            .then_some(())
            .ok_or_else(|| format!("{what}: {st}"))
    };
    run(
        Command::new("git")
            .args(["worktree", "add", "--detach"])
            .arg(&wt)
            .arg(rev),
        "git worktree add",
    )?;
    let target = dir.join("target");
    eprintln!(
        "compare: building {rev} in {} (target {})",
        wt.display(),
        target.display()
    );
    let built = run(
        Command::new("nice")
            .args(["-n", "19", "cargo", "build", "--release", "-p", "vpbx"])
            .current_dir(&wt)
            .env("CARGO_TARGET_DIR", &target)
            .stdin(Stdio::null()),
        "cargo build",
    );
    let bin = dir.join(format!("vpbx-{rev}").replace('/', "_"));
    let copied = built.and_then(|()| {
        std::fs::copy(target.join("release/vpbx"), &bin)
            .map(|_| ())
            .map_err(|e| format!("copying the built binary: {e}"))
    });
    let _ = Command::new("git")
        .args(["worktree", "remove", "--force"])
        .arg(&wt)
        .status();
    let _ = std::fs::remove_dir_all(&target);
    copied.map(|()| bin)
}

pub(crate) fn ratio_table(new: &Figures, old: &Figures) -> String {
    let (rn, ro) = (rows(new), rows(old));
    let mut s = format!(
        "{:<52} {:>10} {:>10} {:>9}\n",
        "figure", "new", "old", "new/old"
    );
    let f = |v: Option<f64>| match v {
        None => "-".to_string(),
        Some(x) if x.abs() >= 100.0 || x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
    };
    for r in &rn {
        let o = ro.iter().find(|x| x.name == r.name).and_then(|x| x.value);
        let ratio = match (r.value, o) {
            (Some(a), Some(b)) if b != 0.0 => format!("{:.3}", a / b),
            _ => "-".into(),
        };
        s += &format!(
            "{:<52} {:>10} {:>10} {:>9}\n",
            r.name,
            f(r.value),
            f(o),
            ratio
        );
    }
    s
}

pub(crate) fn compare(a: CompareArgs) -> Result<(), String> {
    let args = a.bench;
    if !args.switch_bin.exists() {
        return Err(format!("{} not found", args.switch_bin.display()));
    }
    std::env::set_var("VPBX_DEMO_PASSWORDS", "document");
    print!("{}", bench::header());
    let tmp = std::env::temp_dir().join(format!(
        "vpbx-soak-compare-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let old_bin = if Path::new(&a.against).is_file() {
        PathBuf::from(&a.against)
    } else {
        match build_rev(&a.against, &tmp) {
            Ok(b) => b,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        }
    };
    println!(
        "new: {}\nold: {} ({})",
        args.switch_bin.display(),
        old_bin.display(),
        a.against
    );
    let new_bin = args.switch_bin.clone();
    let mut ctx = Ctx::new(args)?;
    let (mut fnew, mut fold) = (Figures::default(), Figures::default());
    for s in SECTIONS {
        if !ctx.args.wants(s) {
            continue;
        }
        if s == Section::Ceiling {
            bench::run_section(&mut ctx, s, &new_bin, &mut fnew);
            fold.ceiling = fnew.ceiling;
            fold.ceiling_open = fnew.ceiling_open;
            continue;
        }
        bench::run_section(&mut ctx, s, &new_bin, &mut fnew);
        bench::run_section(&mut ctx, s, &old_bin, &mut fold);
    }
    ctx.finish();
    let _ = std::fs::remove_dir_all(&tmp);
    println!();
    println!(
        "vpbx-soak compare: new {} vs old {}",
        new_bin.display(),
        a.against
    );
    let t = ratio_table(&fnew, &fold);
    print!("{t}");
    println!(
        "\nnew, with ratios to the ceiling:\n{}",
        bench::table(&fnew)
    );
    println!("old, with ratios to the ceiling:\n{}", bench::table(&fold));
    if let Some(p) = &ctx.args.append {
        let mut md = format!("\n### vpbx-soak compare, {}\n\n", bench::now_utc());
        md += &format!(
            "Machine: {}. Commit: {}. New: `{}`, old: `{}`. Command: `{}`.\n\n```\n{t}```\n",
            bench::machine(),
            bench::commit(),
            new_bin.display(),
            a.against,
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        bench::append(p, &md)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::RateFig;

    #[test]
    fn ratios_new_over_old() {
        let new = Figures {
            ceiling: Some(16000),
            number: Some(RateFig {
                best: Some(2200),
                ..Default::default()
            }),
            ..Default::default()
        };
        let old = Figures {
            ceiling: Some(16000),
            number: Some(RateFig {
                best: Some(2000),
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = ratio_table(&new, &old);
        let l = t.lines().find(|l| l.contains("highest passing")).unwrap();
        assert!(l.trim_end().ends_with("2200       2000     1.100"), "{l}");
        assert!(t
            .lines()
            .any(|l| l.starts_with("ceiling") && l.trim_end().ends_with("1.000")));
    }
}
