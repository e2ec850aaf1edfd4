fn main() {
    println!("see soak/README.md");
}
