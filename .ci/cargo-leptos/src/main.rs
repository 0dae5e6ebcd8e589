//! `cargo leptos …` entry point: hands the command line to cargo-leptos's library.
use clap::Parser;

#[tokio::main]
async fn main() -> color_eyre::Result<()> {
    color_eyre::install()?;
    // Invoked as `cargo leptos build`, the second argument is the subcommand
    // name "leptos", which the CLI parser does not expect.
    let args: Vec<String> = std::env::args()
        .enumerate()
        .filter(|(i, a)| !(*i == 1 && a == "leptos"))
        .map(|(_, a)| a)
        .collect();
    let cli = cargo_leptos::config::Cli::parse_from(args);
    let verbose = cli.opts().map(|o| o.verbose).unwrap_or(0);
    cargo_leptos::logger::setup(verbose, &cli.log);
    cargo_leptos::run(cli).await
}
