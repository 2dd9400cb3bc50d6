// Fuzzes the .tir parser, verifier and printer. Any input may be rejected (with diagnostics);
// one that parses and verifies must print to text that parses back to the same module,
// verifies again and prints the same way.
import FuzzSupport
import TIR

runFuzzer { data in
    let source = String(decoding: data, as: UTF8.self)
    let module: Module
    do throws(DiagnosticList) {
        module = try parseModule(source, file: "fuzz.tir")
    } catch {
        // Every error must render against its source without trapping.
        _ = error.rendered(source: source)
        return
    }
    let problems = verifyModule(module, file: "fuzz.tir")
    for problem in problems { _ = problem.rendered(source: source) }
    guard problems.isEmpty else { return }

    let text = printModule(module)
    let reparsed: Module
    do throws(DiagnosticList) {
        reparsed = try parseModule(text, file: "printed.tir")
    } catch {
        fail("the printed module does not parse:\n\(error.rendered(source: text))\n--- printed:\n\(text)")
    }
    guard reparsed == module else {
        fail("parse(print(m)) != m\n--- printed:\n\(text)\n--- reprinted:\n\(printModule(reparsed))")
    }
    let again = verifyModule(reparsed, file: "printed.tir")
    guard again.isEmpty else {
        fail("the printed module does not verify: \(again.map(\.description))\n--- printed:\n\(text)")
    }
    guard printModule(reparsed) == text else {
        fail("print(parse(print(m))) != print(m)\n--- printed:\n\(text)\n--- reprinted:\n\(printModule(reparsed))")
    }
}
