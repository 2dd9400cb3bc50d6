// Variants from the command line and the library: tfc opt, --variant, -R, and tfc verify,
// including its ability to fail on a wrong rewrite.
import Foundation
import Testing
import TFCDriver
import TIR
import TIRTransforms

@Suite struct VariantTests {
    @Test func verifyPassesOnTheExamples() throws {
        for example in ["gpt-tiny.tir", "vit-tiny.tir"] {
            let r = try tfc("verify", examplePath(example))
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            #expect(r.stdout.contains("Pre-LN and Pre-RMSNorm are close: True"))
            #expect(r.stdout.contains("Pre-LN and Pre-CRMSNorm are close: True"))
        }
        let json = try tfc("verify", examplePath("gpt-tiny.tir"), "--json", "--seq", "3", "--samples", "1")
        let report = try JSONDecoder().decode(VerifyReport.self, from: Data(json.stdout.utf8))
        #expect(report.pass && report.rows.count == 5 && report.seqLens == [3])
    }

    /// A CRMSNorm that divides by d-1 instead of d: z / sqrt(S/(d-1) + eps) equals
    /// sqrt((d-1)/d) * z / sqrt(S/d + eps (d-1)/d), which correct ops can express, so the wrong
    /// rewrite is built exactly and verify must reject it.
    @Test func verifyRejectsACRMSNormDividingByDMinusOne() throws {
        let original = try loadModel(examplePath("gpt-tiny.tir"))
        var wrong = try rewrite(original, variant: .preCRMS).program
        for i in wrong.module.body.indices where wrong.module.body[i].op == .crmsnorm {
            let norm = wrong.module.body[i]
            let m = Double(norm.type.dims.last?.fixedValue ?? 1), d = m + 1
            let eps = norm.double("eps") ?? 1e-5
            wrong.module.body[i].attrs = [("eps", .float(eps * m / d))]
            for reader in wrong.module.body where reader.operands.first == .value(norm.result) {
                guard case .param(let w) = reader.operands[1] else { continue }
                guard let data = wrong.params[w] else { continue }
                wrong.params[w] = ParamData(shape: data.shape, values: data.values.map { $0 * (m / d).squareRoot() })
            }
        }
        let candidate = LoadedModel(path: "wrong-divisor", source: original.source, module: wrong.module, weights: wrong.weights)
        let report = try verifyVariants(original, candidates: [("wrong-divisor", candidate)])
        #expect(!report.pass)
        #expect(report.rows.filter { $0.variant == "wrong-divisor" }.allSatisfy { !$0.pass })
        #expect(report.text.contains("Pre-LN and wrong-divisor are close: False"))
    }

    @Test func verifyRejectsRMSNormWithoutCentering() throws {
        let original = try loadModel(examplePath("vit-tiny.tir"))
        var module = original.module
        for i in module.body.indices where module.body[i].op == .layernorm { module.body[i].op = .rmsnorm }
        let candidate = LoadedModel(path: "no-centering", source: original.source, module: module, weights: original.weights)
        let report = try verifyVariants(original, candidates: [("no-centering", candidate)])
        #expect(!report.pass)
    }

    @Test func optWritesAModelThatVerifies() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let out = "\(dir)/gpt-crms.tir"
        let r = try tfc("opt", examplePath("gpt-tiny.tir"), "--variant", "pre-crms", "-o", out, "-R")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("wrote \(dir)/gpt-crms.safetensors"))
        #expect(r.stderr.contains("remark: compress-crmsnorm: stream %tok stored in 63 columns"), "\(r.stderr)")
        #expect(r.stderr.contains("gpt-tiny.tir:"))
        let written = try String(contentsOfFile: out, encoding: .utf8)
        #expect(written.contains("weights \"gpt-crms.safetensors\""))
        #expect(written.contains("crmsnorm("))

        let check = try tfc("verify", examplePath("gpt-tiny.tir"), "--candidate", out, "--seq", "1,64", "--samples", "1")
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("Pre-LN and \(out) are close: True"))

        // The same file with one eps changed is a wrong rewrite: verify fails and says so.
        let broken = "\(dir)/broken.tir"
        try written.replacingOccurrences(of: "{eps = 1e-05}", with: "{eps = 0.5}")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: "\(dir)/gpt-crms.safetensors", toPath: "\(dir)/broken.safetensors")
        try String(contentsOfFile: broken, encoding: .utf8).replacingOccurrences(of: "gpt-crms.safetensors", with: "broken.safetensors")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try tfc("verify", examplePath("gpt-tiny.tir"), "--candidate", broken, "--seq", "5", "--samples", "1")
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("FAIL"))
        #expect(bad.stdout.contains("Pre-LN and \(broken) are close: False"))
    }

    @Test func optPrintsAfterEveryPassAndRejectsUnknownPasses() throws {
        let r = try tfc("opt", examplePath("gpt-tiny.tir"), "--passes", "remove-mean,layernorm-to-rmsnorm", "--print-after-all")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("// after remove-mean\nmodel @gpt_tiny {"))
        #expect(r.stdout.contains("// after layernorm-to-rmsnorm\nmodel @gpt_tiny {"))
        let unknown = try tfc("opt", examplePath("gpt-tiny.tir"), "--passes", "remove-mean,frobnicate")
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("unknown pass 'frobnicate'"))
    }

    @Test func variantsRunAndCompile() throws {
        var argmaxes: [[String]] = []
        for variant in Variant.allCases {
            let r = try tfc("run", examplePath("gpt-tiny.tir"), "--tokens", "5,6,7,8", "--variant", variant.rawValue)
            #expect(r.status == 0, "\(r.stderr)")
            argmaxes.append(r.stdout.split(separator: "\n").compactMap { line in
                line.range(of: "argmax").map { String(line[$0.upperBound...]) }
            })
        }
        #expect(argmaxes.count == 3 && argmaxes.allSatisfy { $0 == argmaxes[0] })

        // A pre-crms object links into the same C program and agrees with pre-ln.
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let c = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/gpt_tiny.o", "--variant", "pre-crms")
        #expect(c.status == 0, "\(c.stderr)")
        let exe = "\(dir)/demo"
        let cc = try run(cCompiler, ["-std=c11", "-O2", "-I", dir, examplePath("c/gpt_demo.c"), "\(dir)/gpt_tiny.o", "-lm", "-lpthread", "-o", exe])
        #expect(cc.status == 0, "\(cc.stderr)")
        let out = try run(exe, ["--all", "5", "6", "7", "8"])
        let fromC = out.stdout.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        let original = try loadModel(examplePath("gpt-tiny.tir"))
        let reference = try runModel(original, inputs: ["tokens": HostTensor(shape: [4], i32: [5, 6, 7, 8])], seqLen: nil,
                                     engine: .interpreter)["logits"]!.floats.map(Double.init)
        #expect(fromC.count == reference.count)
        let scale = reference.map(abs).max() ?? 1
        #expect((zip(fromC, reference).map { abs($0 - $1) }.max() ?? 1) / scale < 1e-5)
    }
}
