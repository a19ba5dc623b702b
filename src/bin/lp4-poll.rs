fn main() {
    bmstap::exit::main(bmstap::tools::lp4_poll::run)
}
