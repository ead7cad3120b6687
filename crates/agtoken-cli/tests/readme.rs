//! Runs the README's `console` examples: each `$ ` line is a command; the lines after it, if
//! any, are its exact stdout; a trailing `# exit N` comment is its expected exit code (else 0).

use std::fmt::Write as _;
use std::process::Command;

fn console_blocks(readme: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```console") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), l) => block.push(l.to_owned()),
            (None, _) => {}
        }
    }
    blocks
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// One bash script per block: assignments run in the shell itself; every other command is
/// checked for its exit code and, when the README shows output, for that exact output.
fn script(block: &[String]) -> String {
    let mut script = String::from("set -u\n");
    let mut i = 0;
    while i < block.len() {
        let line = block[i].strip_prefix("$ ").expect("console blocks alternate commands and their output");
        let mut expected = Vec::new();
        while i + 1 < block.len() && !block[i + 1].starts_with("$ ") {
            expected.push(block[i + 1].clone());
            i += 1;
        }
        i += 1;
        let (command, exit) = match line.split_once("# exit ") {
            Some((c, code)) => (c.trim_end(), code.trim().parse::<i32>().unwrap()),
            None => (line, 0),
        };
        let is_assignment = command.starts_with("export ")
            || command
                .split_once('=')
                .is_some_and(|(name, _)| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if is_assignment {
            let _ = writeln!(script, "{command} || {{ echo 'failed: '{}; exit 1; }}", shell_quote(command));
            continue;
        }
        let _ = writeln!(script, "out=$({command}); code=$?");
        let _ = writeln!(
            script,
            "[ \"$code\" -eq {exit} ] || {{ echo 'exit '$code' (expected {exit}): '{}; exit 1; }}",
            shell_quote(command)
        );
        if !expected.is_empty() {
            let _ = writeln!(
                script,
                "[ \"$out\" = {} ] || {{ echo 'unexpected output of '{}': '\"$out\"; exit 1; }}",
                shell_quote(&expected.join("\n")),
                shell_quote(command)
            );
        }
    }
    script
}

#[test]
fn readme_console_examples_run_as_documented() {
    let readme = include_str!("../../../README.md");
    let blocks = console_blocks(readme);
    assert!(blocks.len() >= 2, "the README has console examples");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_agtoken")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    // One shell for the whole README, so that an `export` in one block holds in the next.
    let script: String = blocks.iter().map(|b| script(b)).collect();
    {
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("PATH", &path)
            .env_remove("AGORA_APP_ID")
            .env_remove("AGORA_APP_CERTIFICATE")
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "README example failed:\n{}\n{}\nscript:\n{script}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
