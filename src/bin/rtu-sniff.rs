fn main() {
    bmstap::exit::main(bmstap::tools::rtu_sniff::run)
}
