fn main() -> std::process::ExitCode {
    tsdev::cli::main()
}
