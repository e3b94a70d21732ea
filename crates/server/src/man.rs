//! `portcullis man [--dir DIR]`: the manual page, generated from the command line's definitions
//! (`clap_mangen`), so it never disagrees with `--help`. Without `--dir` the page of
//! `portcullis` (every command, and every option of every command) goes to stdout; with it,
//! `portcullis.1` and one `portcullis-COMMAND.1` per command are written there (packagers
//! install them under /usr/share/man/man1).

use clap::CommandFactory;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Runs `man`.
pub fn run(args: crate::cli::ManArgs) -> ExitCode {
    let result = match &args.dir {
        Some(dir) => write_pages(dir),
        None => page().and_then(|page| std::io::stdout().write_all(&page)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portcullis man: {error}");
            ExitCode::from(1)
        }
    }
}

/// The page of `portcullis`: name, synopsis, description, options, the commands, then one
/// section per command with its own synopsis and options.
pub fn page() -> std::io::Result<Vec<u8>> {
    let mut command = crate::cli::Cli::command();
    command.build();
    let man = clap_mangen::Man::new(command.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        command_section(&mut out, command.get_name(), sub)?;
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// A section `COMMAND NAME` with the command's about text, usage and options, then its own
/// subcommands' sections.
fn command_section(out: &mut Vec<u8>, parent: &str, sub: &clap::Command) -> std::io::Result<()> {
    let path = format!("{parent} {}", sub.get_name());
    writeln!(out, ".SH \"COMMAND: {}\"", path.to_uppercase())?;
    if let Some(about) = sub.get_long_about().or(sub.get_about()) {
        writeln!(out, "{}", escape(&about.to_string()))?;
    }
    let mut usage = sub.clone().bin_name(path.clone());
    writeln!(out, ".PP\n.B Usage:\n{}", escape(&usage.render_usage().to_string().replace("Usage: ", "")))?;
    let man = clap_mangen::Man::new(sub.clone());
    let mut options = Vec::new();
    man.render_options_section(&mut options)?;
    // The options of a command, under its own heading rather than a second OPTIONS section.
    let options = String::from_utf8_lossy(&options).replacen(".SH OPTIONS", ".PP\n.B Options:", 1);
    out.extend_from_slice(options.as_bytes());
    for inner in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
        command_section(out, &path, inner)?;
    }
    Ok(())
}

/// Text safe in a roff paragraph: backslashes doubled, a leading dot or quote protected.
fn escape(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('\\', "\\\\");
            if line.starts_with(['.', '\'']) {
                format!("\\&{line}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `portcullis.1` and `portcullis-COMMAND.1` (clap_mangen's page per command) into `dir`.
fn write_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("portcullis.1"), page()?)?;
    let mut command = crate::cli::Cli::command();
    command.build();
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("portcullis-{}", sub.get_name());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone().bin_name(name.clone())).title(name.clone()).render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), page)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_names_every_command_and_their_options() {
        let page = String::from_utf8(super::page().unwrap()).unwrap();
        for command in ["serve", "query", "check-zone", "check-config", "keygen", "sign-zone", "dnssec", "ctl"] {
            assert!(page.contains(&format!("COMMAND: PORTCULLIS {}", command.to_uppercase())), "{command} missing");
        }
        assert!(page.contains("COMMAND: PORTCULLIS CTL UPGRADE"), "ctl's commands are described");
        assert!(page.contains("allow\\-recursion"), "serve's options are listed");
        assert!(!page.contains("COMMAND: PORTCULLIS MAN"), "the hidden command stays hidden");
    }
}
