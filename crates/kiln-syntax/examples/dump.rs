fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (file, diags) = kiln_syntax::parse(&text);
    print!("{}", kiln_syntax::dump(&file, &text));
    let sf = kiln_diagnostics::SourceFile::new(path, text);
    for d in &diags {
        print!("{}", kiln_diagnostics::render(d, &sf, Default::default()));
    }
}
