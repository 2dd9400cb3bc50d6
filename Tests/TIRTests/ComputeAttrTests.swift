// The `compute` attribute of linear and patch_embed: parsed, printed (omitted at its default
// f32), and checked by the verifier (compute = bf16 needs a bf16 parameter weight).

import Testing
@testable import TIR

@Suite struct ComputeAttrTests {
    private static let bf16Linear = """
        model @m {
          input %x : f32[3, 7]
          param @w : bf16[7, 5]
          param @b : f32[5]
          %y = linear(%x, @w, @b) {transposed = false, compute = bf16} : f32[3, 5]
          %z = linear(%x, @w) {compute = f32} : f32[3, 5]
          output %y, %z
        }
        """

    @Test func printsBF16AndOmitsTheDefault() throws {
        let m = try TIRText.parse(Self.bf16Linear)
        #expect(verifyModule(m, file: "test.tir").isEmpty)
        #expect(m.body[0].computesInBF16 && !m.body[1].computesInBF16)
        #expect(m.body[1].attr("compute") == .word("f32"))
        let text = printModule(m)
        #expect(text.contains("%y = linear(%x, @w, @b) {compute = bf16} : f32[3, 5]"), "\(text)")
        #expect(text.contains("%z = linear(%x, @w) : f32[3, 5]"), "\(text)")
        let again = try TIRText.parse(text)
        #expect(again == m)
        #expect(printModule(again) == text)
    }

    @Test func patchEmbedTakesComputeAfterItsOtherAttributes() throws {
        let m = try TIRText.parse("""
            model @m {
              input %image : f32[3, 4, 4]
              param @w : bf16[12, 6]
              %p = patch_embed(%image, @w) {compute = bf16, patch = 2} : f32[4, 6]
              output %p
            }
            """)
        #expect(verifyModule(m, file: "test.tir").isEmpty)
        #expect(printModule(m).contains("%p = patch_embed(%image, @w) {patch = 2, compute = bf16} : f32[4, 6]"))
        #expect(try TIRText.parse(printModule(m)) == m)
    }

    @Test func anUnknownComputeWordIsRefused() throws {
        let errors = TIRText.parseErrors("""
            model @m {
              input %x : f32[3, 7]
              param @w : bf16[7, 5]
              %y = linear(%x, @w) {compute = f16} : f32[3, 5]
              output %y
            }
            """)
        #expect(errors.map(\.description) == ["test.tir:4:34: error: attribute 'compute' of 'linear' must be one of f32, bf16, got 'f16'"])
        // Built in code, the verifier says the same.
        var m = try TIRText.parse(Self.bf16Linear)
        m.body[0].attrs = [(key: "compute", value: .word("f16"))]
        #expect(verifyModule(m, file: "test.tir").map(\.message) == ["attribute 'compute' of 'linear' must be one of f32, bf16, got 'f16'"])
    }

    @Test func bf16ComputeNeedsABF16ParameterWeight() throws {
        let m = try TIRText.parse("""
            model @m {
              input %x : f32[3, 7]
              input %v : f32[7, 5]
              param @w : f32[7, 5]
              param @p : f32[12, 6]
              input %image : f32[3, 4, 4]
              %y = linear(%x, @w) {compute = bf16} : f32[3, 5]
              %z = linear(%x, %v) {compute = bf16} : f32[3, 5]
              %q = patch_embed(%image, @p) {patch = 2, compute = bf16} : f32[4, 6]
              output %y, %z, %q
            }
            """)
        #expect(verifyModule(m, file: "test.tir").map(\.description) == [
            "test.tir:7:19: error: 'linear' with compute = bf16 requires its weight to be a parameter of dtype bf16, but @w is f32[7, 5] (declare it bf16, or run the to-bf16 pass)",
            "test.tir:8:19: error: 'linear' with compute = bf16 requires its weight to be a parameter of dtype bf16, but %v is a value, not a parameter (declare it bf16, or run the to-bf16 pass)",
            "test.tir:9:28: error: 'patch_embed' with compute = bf16 requires its weight to be a parameter of dtype bf16, but @p is f32[12, 6] (declare it bf16, or run the to-bf16 pass)",
        ])
    }
}
