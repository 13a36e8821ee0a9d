//! The `castctl` binary: a command-line client for castd (see [`castd::cli`]).

fn main() -> std::process::ExitCode {
    castd::cli::main()
}
