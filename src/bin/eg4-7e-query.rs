fn main() {
    bmstap::exit::main(bmstap::tools::eg4_7e_query::run)
}
