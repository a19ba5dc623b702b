fn main() {
    bmstap::exit::main(bmstap::tools::eflex_candump_decode::run)
}
