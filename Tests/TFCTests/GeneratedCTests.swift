// The code generator's refusals through the built `tfc`, and the headers it writes compiled by the
// C (and C++) compiler: a bad --cpu or --target is a clean error, never an abort inside LLVM.
import Foundation
import Testing

@Suite struct GeneratedCTests {
    @Test func anUnknownCPUOrTargetIsACleanErrorNamingTheValidOnes() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let cases: [([String], String, String)] = [
            (["--cpu", "bogus"], "unknown CPU 'bogus'", "x86-64-v3"),
            (["--target", "x86_64", "--cpu", "i386"], "unknown CPU 'i386' for x86_64-pc-linux-gnu (it has no 64-bit mode)", "znver4"),
            (["--target", "aarch64", "--cpu", "skylake"], "unknown CPU 'skylake' for aarch64-unknown-linux-gnu", "neoverse-v2"),
            (["--target", "sparc-sun-solaris"], "unknown target 'sparc-sun-solaris'", "x86_64, aarch64"),
        ]
        #if !arch(x86_64)
        let expectedHostCPU = "generic"
        #else
        let expectedHostCPU = "x86-64-v3"
        #endif
        for (options, message, listed) in cases {
            let r = try run(tfcPath, ["compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/m.o"] + options)
            let wanted = options == ["--cpu", "bogus"] ? expectedHostCPU : listed
            #expect(r.status == 1, "\(options): exit \(r.status)\n\(r.stderr)")
            #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains(message) && r.stderr.contains(wanted), "\(options): \(r.stderr)")
            #expect(!r.stderr.contains("LLVM ERROR") && !r.stderr.contains("not a recognized processor"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/m.o") && !FileManager.default.fileExists(atPath: "\(dir)/m.h"))
        }
    }
}

extension GeneratedCTests {
    /// A model whose names are awkward but valid in C once mapped: a leading digit, dots,
    /// capitals, a name that is a C library function and one that is the entry point's own name.
    static let awkwardModel = """
        model @awkward.model.v2 {
          seq T <= 8
          weights random(seed = 1, std = 0.1)
          input %0 : i32[T]
          input %Float : f32[T, 8]
          input %x.y : f32[T, 8]
          input %malloc : f32[T, 8]
          input %awkward_model_v2_forward : f32[T, 8]
          param @wte : f32[16, 8]
          %e = embedding(%0, @wte) : f32[T, 8]
          %s1 = add(%e, %Float) : f32[T, 8]
          %s2 = add(%s1, %x.y) : f32[T, 8]
          %s3 = add(%s2, %malloc) : f32[T, 8]
          %logits.final = add(%s3, %awkward_model_v2_forward) : f32[T, 8]
          output %logits.final
        }
        """

    /// A model with one input named `name` (replacing %x) and, when given, a second one named `other`.
    static func model(input name: String, other: String? = nil) -> String {
        """
        model @m {
          seq T <= 8
          input %\(name) : f32[T, 8]
        \(other.map { "  input %\($0) : f32[T, 8]\n" } ?? "")  %y = gelu(%\(name)) {approximation = tanh} : f32[T, 8]
        \(other.map { "  %z = add(%y, %\($0)) : f32[T, 8]\n  output %z" } ?? "  output %y")
        }
        """
    }

    static let cxx: String? = ["/usr/bin/c++", "/usr/bin/g++", "/usr/bin/clang++"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Compiles a translation unit that includes each header (twice, to exercise the guards) with
    /// `cc -std=c11 -Wall -Wextra -Werror -pedantic`, and as C++11 when a C++ compiler is there.
    static func expectHeadersCompile(_ headers: [String], in dir: String, _ what: String) throws {
        let includes = (headers + headers).map { "#include \"\($0)\"" }.joined(separator: "\n")
        let source = "\(dir)/tu-\(UUID().uuidString).c"
        try (includes + "\nint tfc_translation_unit_is_not_empty;\n").write(toFile: source, atomically: true, encoding: .utf8)
        let c = try run(cCompiler, ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I", dir, source])
        #expect(c.status == 0, "\(what): the header does not compile as C11:\n\(c.stderr)")
        if let cxx {
            let cpp = source + "pp"
            try FileManager.default.copyItem(atPath: source, toPath: cpp)
            let r = try run(cxx, ["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I", dir, cpp])
            #expect(r.status == 0, "\(what): the header does not compile as C++11:\n\(r.stderr)")
        }
    }

    @Test func theHeadersOfTheExamplesAndOfAwkwardNamesCompileAsCAndCxx() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        for (file, out) in [("gpt-tiny.tir", "gpt_tiny"), ("vit-tiny.tir", "vit_tiny")] {
            let r = try run(tfcPath, ["compile", examplePath(file), "-o", "\(dir)/\(out).o", "--emit", "header"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        try Self.awkwardModel.write(toFile: "\(dir)/awkward.tir", atomically: true, encoding: .utf8)
        let r = try run(tfcPath, ["compile", "\(dir)/awkward.tir", "-o", "\(dir)/awkward.o"])
        #expect(r.status == 0, "\(r.stderr)")
        let header = try String(contentsOfFile: "\(dir)/awkward.h", encoding: .utf8)
        #expect(header.contains("int32_t awkward_model_v2_forward(const int32_t *m_0, const float *Float, const float *x_y, "
                                + "const float *malloc, const float *awkward_model_v2_forward, int64_t seq_len, "
                                + "float *logits_final, void *workspace);"), "\(header)")
        #expect(header.contains("#ifndef TFC_AWKWARD_MODEL_V2_H_INCLUDED"))
        try Self.expectHeadersCompile(["gpt_tiny.h", "vit_tiny.h", "awkward.h"], in: dir, "examples and awkward names")

        // The awkward model links and runs from C through every parameter.
        let program = """
            #include <stdio.h>
            #include <stdlib.h>
            #include "awkward.h"
            int main(void) {
                int32_t ids[2] = {1, 2};
                float a[16] = {0}, b[16] = {0}, c[16] = {0}, d[16] = {0}, out[16];
                void *ws = aligned_alloc(AWKWARD_MODEL_V2_WORKSPACE_ALIGNMENT, (AWKWARD_MODEL_V2_WORKSPACE_SIZE + 63) / 64 * 64);
                int32_t s = awkward_model_v2_forward(ids, a, b, c, d, 2, out, ws);
                printf("%d %zu\\n", (int)s, (size_t)AWKWARD_MODEL_V2_LOGITS_FINAL_COUNT(2));
                free(ws);
                return s;
            }
            """
        try program.write(toFile: "\(dir)/main.c", atomically: true, encoding: .utf8)
        let cc = try run(cCompiler, ["-std=c11", "-Wall", "-Werror", "-I", dir, "\(dir)/main.c", "\(dir)/awkward.o",
                                     "-lm", "-lpthread", "-o", "\(dir)/main"])
        #expect(cc.status == 0, "\(cc.stderr)")
        let ran = try run("\(dir)/main", [])
        #expect(ran.status == 0 && ran.stdout == "0 16\n", "\(ran.stdout)\(ran.stderr)")
    }

    /// Two models whose headers share a file name, in two folders, included by one program: the
    /// guard comes from the symbol prefix, so neither hides the other.
    @Test func twoHeadersWithOneFileNameDoNotHideEachOther() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        for sub in ["a", "b"] { try FileManager.default.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true) }
        let a = try run(tfcPath, ["compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/a/model.o", "--emit", "header"])
        let b = try run(tfcPath, ["compile", examplePath("vit-tiny.tir"), "-o", "\(dir)/b/model.o", "--emit", "header"])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)\(b.stderr)")
        let source = "\(dir)/both.c"
        try """
            #include "a/model.h"
            #include "b/model.h"
            int main(void) { return (int)sizeof(&gpt_tiny_forward) - (int)sizeof(&vit_tiny_forward) + GPT_TINY_OK + VIT_TINY_OK; }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        let r = try run(cCompiler, ["-std=c11", "-Wall", "-Werror", "-fsyntax-only", "-I", dir, source])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// Names that would make a header that does not compile, or whose parameters or macros
    /// collide, are refused with the value's location, and nothing is written.
    @Test(arguments: [
        ("int", nil, "'int' is a C or C++ keyword"),
        ("class", nil, "'class' is a C or C++ keyword"),
        ("seq_len", nil, "'seq_len' is a parameter of the entry points"),
        ("workspace", nil, "'workspace' is a parameter of the entry points"),
        ("threads", nil, "'threads' is a parameter of the entry points"),
        ("__x", nil, "'__x' is reserved"),
        ("_X", nil, "'_X' is reserved"),
        ("int32_t", nil, "names ending in '_t'"),
        ("NULL", nil, "<stddef.h> or <stdint.h>"),
        ("INT32_MAX", nil, "<stddef.h> or <stdint.h>"),
        ("M_OK", nil, "a macro of the header"),
        ("a.b", "a_b", "input %a_b and input %a.b both become the C name 'a_b'"),
        ("x", "X", "input %X and input %x both become the macro M_X_COUNT"),
    ] as [(String, String?, String)])
    func namesThatWouldBreakTheHeaderAreRefused(name: String, other: String?, message: String) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try Self.model(input: name, other: other).write(toFile: "\(dir)/m.tir", atomically: true, encoding: .utf8)
        let r = try run(tfcPath, ["compile", "\(dir)/m.tir", "-o", "\(dir)/m.o"])
        #expect(r.status == 1, "%\(name): exit \(r.status)\n\(r.stderr)")
        let line = other == nil ? 3 : 4
        #expect(r.stderr.contains("m.tir:\(line):9: error: input %") && r.stderr.contains(message), "%\(name):\n\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/m.o") && !FileManager.default.fileExists(atPath: "\(dir)/m.h"))
        // The same model still runs in process: only the C header needs C names.
        if other == nil {
            let run = try tfc("run", "\(dir)/m.tir", "--random-inputs", "1")
            #expect(run.status == 0, "%\(name): tfc run: \(run.stderr)")
        }
    }
}
