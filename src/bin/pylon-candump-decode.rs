fn main() {
    bmstap::exit::main(bmstap::tools::pylon_candump_decode::run)
}
