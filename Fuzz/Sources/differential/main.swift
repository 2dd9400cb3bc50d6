// The differential driver: random models from `ModelSpec.random(seed:)`, each checked by
// `checkDifferential` (the compiled code against the interpreter in every variant, and every
// variant against the original in float64); a failure is shrunk to the smallest spec that
// still fails the same way, printed as .tir and saved.
//
//   differential [--start N] [--count N] [--seconds S] [--out DIR] [--no-shrink] [--threads N] [--verbose]
//                [--compiled-tolerance X] [--float64-tolerance X]
//   differential --seed N          one seed (a reproduction)
//
// Seeds run upwards from --start (default 5000) until --count models or --seconds have passed
// (default: 100 models). Exit status 1 when any model failed.
import Foundation
import TFCTestSupport
import TIR

struct Arguments {
    var start: UInt64 = 5000
    var count: Int?
    var seconds: Double?
    var out = "Fuzz/Findings/differential"
    var shrinkFailures = true
    var verbose = false
    var options = DifferentialOptions()

    init(_ args: [String]) {
        var rest = args[...]
        func value(_ flag: String) -> String {
            guard let v = rest.popFirst() else { usage("\(flag) needs a value") }
            return v
        }
        func number<T: LosslessStringConvertible>(_ flag: String) -> T {
            guard let n = T(value(flag)) else { usage("\(flag) takes a number") }
            return n
        }
        while let arg = rest.popFirst() {
            switch arg {
            case "--start": start = number(arg)
            case "--seed":
                start = number(arg)
                count = 1
            case "--count": count = number(arg)
            case "--seconds": seconds = number(arg)
            case "--out": out = value(arg)
            case "--no-shrink": shrinkFailures = false
            case "--threads": options.threads = number(arg)
            case "--compiled-tolerance": options.compiledTolerance = number(arg)
            case "--float64-tolerance": options.float64Tolerance = number(arg)
            case "--verbose", "-v": verbose = true
            case "--help", "-h": usage(nil)
            default: usage("unknown argument '\(arg)'")
            }
        }
        if count == nil && seconds == nil { count = 100 }
    }
}

func usage(_ problem: String?) -> Never {
    if let problem { FileHandle.standardError.write(Data("differential: \(problem)\n".utf8)) }
    say("usage: differential [--start SEED] [--count N] [--seconds S] [--out DIR] [--no-shrink] [--threads N] [--verbose]")
    say("                    [--compiled-tolerance X] [--float64-tolerance X]")
    say("       differential --seed SEED")
    exit(problem == nil ? 0 : 2)
}

/// Writes a line unbuffered, so that progress shows as it comes, also into a pipe.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func sci(_ x: Double) -> String { String(format: "%.2e", x) }

let args = Arguments(Array(CommandLine.arguments.dropFirst()))
let began = Date()
var lastProgress = began
var checked = 0, comparisons = 0, failed = 0, gpts = 0
var worstCompiled = (error: 0.0, seed: UInt64(0)), worstFloat64 = (error: 0.0, seed: UInt64(0))
var seed = args.start
say("differential: seeds from \(args.start)"
      + (args.count.map { ", \($0) models" } ?? "") + (args.seconds.map { ", for \(Int($0)) s" } ?? "")
      + "; compiled vs interpreter <= \(sci(args.options.compiledTolerance)), float64 variants <= \(sci(args.options.float64Tolerance))")

while true {
    if let count = args.count, checked >= count { break }
    if let seconds = args.seconds, Date().timeIntervalSince(began) >= seconds { break }
    let spec = ModelSpec.random(seed: seed)
    let report = checkDifferential(spec, options: args.options)
    checked += 1
    comparisons += report.comparisons
    if spec.gpt != nil { gpts += 1 }
    if report.worstCompiled > worstCompiled.error { worstCompiled = (report.worstCompiled, seed) }
    if report.worstFloat64 > worstFloat64.error { worstFloat64 = (report.worstFloat64, seed) }
    if args.verbose || !report.passed {
        say("seed \(seed): \(report.passed ? "ok" : "FAIL")  compiled \(sci(report.worstCompiled))"
              + "  float64 \(sci(report.worstFloat64))  \(spec)")
    }
    if !report.passed {
        failed += 1
        for failure in report.failures { say("  \(failure)") }
        let first = report.failures[0]
        var smallest = spec
        if args.shrinkFailures {
            // Only the failing variant, and no compiling unless the failure needs it: each
            // step is then much cheaper.
            var shrinkOptions = args.options
            shrinkOptions.variants = [first.variant]
            shrinkOptions.compiled = first.check != .float64
            var steps = 0
            smallest = shrink(spec) { candidate in
                steps += 1
                return checkDifferential(candidate, options: shrinkOptions).failures.contains { $0.sameKind(as: first) }
            }
            say("  shrunk in \(steps) checks to: \(smallest)")
        }
        let final = checkDifferential(smallest, options: args.options)
        let text = printModule(generateModel(smallest))
        say("  smallest failing model (\(final.failures.map(\.description).joined(separator: "; "))):")
        say(text.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
        let name = "seed\(seed)-\(first.variant.rawValue)-\(first.check == .float64 ? "float64" : first.check == .compiled ? "compiled" : "error")"
        do {
            try FileManager.default.createDirectory(atPath: args.out, withIntermediateDirectories: true)
            try text.write(toFile: "\(args.out)/\(name).tir", atomically: true, encoding: .utf8)
            let notes = "ModelSpec.random(seed: \(seed)) = \(spec)\nshrunk: \(smallest)\n"
                + final.failures.map(\.description).joined(separator: "\n") + "\n"
            try notes.write(toFile: "\(args.out)/\(name).txt", atomically: true, encoding: .utf8)
            say("  saved \(args.out)/\(name).tir and .txt")
        } catch {
            say("  cannot save to \(args.out): \(error)")
        }
    }
    seed += 1
    if Date().timeIntervalSince(lastProgress) >= 60 {
        lastProgress = Date()
        say("  ... \(checked) models in \(Int(lastProgress.timeIntervalSince(began))) s, \(failed) failed")
    }
}

let elapsed = Date().timeIntervalSince(began)
say("differential: \(checked) models (\(gpts) GPT, \(checked - gpts) ViT; seeds \(args.start)..<\(seed)), "
      + "\(comparisons) comparisons in \(String(format: "%.0f", elapsed)) s; \(failed) failed")
say("  worst compiled vs interpreter \(sci(worstCompiled.error)) (seed \(worstCompiled.seed)),"
      + " worst float64 variant vs original \(sci(worstFloat64.error)) (seed \(worstFloat64.seed))")
exit(failed == 0 ? 0 : 1)
