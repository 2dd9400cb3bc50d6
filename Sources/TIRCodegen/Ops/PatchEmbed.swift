// patch_embed: a ViT's strided convolution as im2col + GEMM. The patches are gathered into a
// workspace scratch matrix, then multiplied by the packed weight through the GEMM driver.
import LLVMBridge
import TIR

/// The gathered patches: [patches, C*p*p] floats, live while the op runs.
func patchEmbedScratch(_ inst: Instruction, model: Module, gemm: GemmShape) -> [ScratchRequest] {
    guard let rows = inst.type.dims.first?.fixedValue, let weight = model.type(of: inst.operands[1])?.staticShape,
          weight.count == 2 else { return [] }
    let k = inst.bool("transposed") == true ? weight[1] : weight[0]
    return [ScratchRequest(name: "im2col", bytes: rows * k * DType.f32.byteSize)] + roundedInputScratch(inst, elements: rows * k)
}

extension FunctionLowering {
    /// Patches in row-major grid order; each flattened in (channel, row, column) order, which is
    /// PyTorch's Conv2d weight [d, C, p, p] reshaped to [d, C*p*p] (the transposed layout) or
    /// that transposed. Pixels past the last whole patch are unused, as in a strided convolution.
    func lowerPatchEmbed(_ op: OpContext) throws {
        let inst = op.inst
        guard let shape = op.types[0].staticShape, shape.count == 3, let p = inst.int("patch"), p > 0 else {
            throw CodegenError("patch_embed %\(inst.result): needs a static [C, H, W] image and a patch size")
        }
        let patches = try scratch(inst, "im2col")
        let image = op.operands[0], imageType = op.types[0].dtype
        let (C, H, W) = (shape[0], shape[1], shape[2])
        let (gridH, gridW, K) = (H / p, W / p, C * p * p)
        b.forLoop(gridH) { gy in
            b.forLoop(gridW) { gx in
                let row = b.gep(f32, patches, b.mul(b.add(b.mul(gy, gridW), gx), K))
                b.forLoop(C) { c in
                    b.forLoop(p) { ky in
                        // One image row segment of the patch is p contiguous pixels.
                        let pixel = b.add(b.mul(b.add(b.mul(c, H), b.add(b.mul(gy, p), ky)), W), b.mul(gx, p))
                        copyFloats(to: b.gep(f32, row, b.mul(b.add(b.mul(c, p), ky), p)),
                                   from: b.gep(storageType(imageType), image, pixel), imageType, count: ir.i64(p))
                    }
                }
            }
        }
        let plan = FusionPlan.Linear(epilogue: Epilogue(bias: op.operands.count > 2), residual: nil, linear: inst.result)
        try lowerGemm(inst, plan: plan, x: patches, rows: ir.i64(gridH * gridW), k: K, n: op.cols, bias: op.optional(2),
                      scales: nil, out: op.out)
    }
}
