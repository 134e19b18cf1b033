fn main() -> std::process::ExitCode {
    driftwatch_server::cli::main()
}
