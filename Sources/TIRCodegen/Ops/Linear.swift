// linear: y = x @ W (+ bias), with the ops the fusion plan folded into it (an activation, a
// residual add, a parameter-free norm's row scale), through the GEMM microkernel (Kernels/Gemm.swift)
// over weights packed at compile time; a plain loop nest when the weight is not a parameter.
import LLVMBridge
import TIR

extension FunctionLowering {
    func lowerLinear(_ op: OpContext) throws {
        let K = cols(op.types[0])
        guard let plan = fusion.linears[op.inst.result] else {
            lowerUnpackedLinear(x: op.operands[0], rows: op.rows, k: K, n: op.cols, w: op.operands[1],
                                weightType: op.types[1].dtype, transposed: op.inst.bool("transposed") ?? false,
                                bias: op.optional(2), biasType: op.optionalType(2), out: op.out)
            return
        }
        // A linear after a scale-only norm reads the norm's input; the norm's buffer holds the scales.
        let x = try plan.rowScale.map { try pointer($0.input) } ?? op.operands[0]
        let scales = try plan.rowScale.map { try pointer(.value($0.norm)) }
        try lowerGemm(op.inst, plan: plan, x: x, rows: op.rows, k: K, n: op.cols, bias: op.optional(2), scales: scales,
                      out: op.out)
    }

    /// The weights of a linear (or patch_embed) in panel layout, in their own element type (in
    /// pairs of k for bf16 products), as a constant shared by every use with the same layout.
    func packedWeights(_ inst: Instruction, k K: Int, n N: Int, precision: GemmPrecision) throws -> (Value, DType) {
        guard case .param(let name) = inst.operands[1], let tensor = weights[name] else {
            throw CodegenError("%\(inst.result): the weight must be a parameter")
        }
        let transposed = inst.bool("transposed") ?? false
        let nr = gemm.shape.nr
        let pairs = precision == .bf16Pairs
        let key = "\(name).packed\(nr)\(transposed ? ".t" : "")\(pairs ? ".pairs" : "")"
        if let p = packed[key] { return (p, tensor.dtype) }
        if tensor.dtype != .bf16, precision != .f32 {
            throw CodegenError("%\(inst.result): compute = bf16 needs a bf16 weight")
        }
        // Packed only when the module does not hold these panels yet (another CPU's code, or
        // the forward's for an extend step, may have packed them).
        func panels() -> [UInt8] {
            switch tensor.storage {
            case .bf16(let bits):
                let panels = pairs ? packWeightsInPairs(bits, k: K, n: N, transposed: transposed, nr: nr)
                    : packWeights(bits, k: K, n: N, transposed: transposed, nr: nr)
                return panels.withUnsafeBytes { Array($0) }
            case .f32, .i32:
                return packWeights(tensor.floats, k: K, n: N, transposed: transposed, nr: nr).withUnsafeBytes { Array($0) }
            }
        }
        let global = constant("w." + key, panels())
        packed[key] = global
        return (global, tensor.dtype)
    }

    /// x @ W through the microkernel, panel by panel: full blocks of mr rows, then one block of
    /// the remaining R mod mr rows (a single row is the matrix-vector case). Threads claim chunks
    /// of panels, so each writes its own columns of y.
    func lowerGemm(_ inst: Instruction, plan: FusionPlan.Linear, x: Value, rows R: Value, k K: Int, n N: Int,
                   bias: Value?, scales: Value?, out: Value) throws {
        let precision = GemmPrecision.of(inst, shape: gemm.shape, target: target, paired: pairedBF16)
        let (panel, weightType) = try packedWeights(inst, k: K, n: N, precision: precision)
        // A bf16 product reads x rounded to bf16, from a copy (paired: with an even row length, a
        // zero past an odd K pairing with the panels' zero row).
        let ldx = precision == .bf16Pairs ? (K + 1) / 2 * 2 : K
        var x = x, scales = scales
        var epilogue = plan.epilogue
        if precision.roundsInput {
            // A scale-only norm's row scale is applied before the rounding, not in the epilogue:
            // the product reads the normalized input rounded, as the IR says.
            let copy = try scratch(inst, "x.bf16")
            roundRowsToBF16(x, scales: scales, rows: R, k: K, into: copy, ldx: ldx, asFloats: precision == .bf16Rounded)
            x = copy
            scales = nil
            epilogue.rowScale = false
        }
        if inst.operands.count > 2, let biasType = model.type(of: inst.operands[2])?.dtype { epilogue.biasType = biasType }
        let residual = try plan.residual.map(pointer) ?? ir.nullPointer
        let nr = gemm.shape.nr, kc = GemmShape.kc
        // Slices of K: [k0, k0 + length). A short last slice is merged into the one before.
        var slices: [(k0: Int, length: Int)] = stride(from: 0, to: K, by: kc).map { ($0, min(kc, K - $0)) }
        if slices.count > 1, let last = slices.last, last.length < kc / 2 {
            slices.removeLast()
            slices[slices.count - 1].length += last.length
        }
        let panels = (N + nr - 1) / nr
        let hasResidual = plan.residual != nil, hasScales = scales != nil
        // The weights and bias are captured too, though they are globals: tasks of the same shape
        // are then identical functions, which LLVM's MergeFunctions folds into one.
        parallelFor("\(cIdentifier(inst.result)).gemm", count: ir.i64(panels), work: workEstimate(R, ir.i64(1), times: 2 * K * N),
                    captures: [x, out, residual, R, scales ?? ir.nullPointer, panel, bias ?? ir.nullPointer]) { c, begin, end in
            func panels(slices: [(k0: Int, length: Int)]) {
                gemmPanels(begin, end, slices: slices, epilogue: epilogue, precision: precision, x: c[0], ldx: ldx, k: K, n: N,
                           weights: c[5], weightType: weightType, bias: bias == nil ? nil : c[6],
                           residual: hasResidual ? c[2] : nil, scales: hasScales ? c[4] : nil, rows: c[3], out: c[1])
            }
            // Fewer rows than a block (a decode step's one): x is a few cache lines, so slices of
            // K buy nothing, and each panel is read whole, front to back (slices stride from
            // panel to panel, which the hardware prefetcher follows less well). bf16 weights
            // widened on the stack keep their slices (a whole panel would not fit in L1).
            guard slices.count > 1, !(weightType == .bf16 && precision != .bf16Pairs) else {
                panels(slices: slices)
                return
            }
            let few = b.icmp(.slt, c[3], ir.i64(gemm.shape.mr))
            b.ifThen(few) { panels(slices: [(0, K)]) }
            b.ifThen(b.not(few)) { panels(slices: slices) }
        }
    }

    /// Panels [begin, end) of one GEMM, blocked for the caches:
    ///
    ///     for each group of panels (about 512 KiB of weights per slice of K)
    ///       for each group of rows (GemmShape.rowGroup: 128 rows)
    ///         for each slice of K (kc: the group's x slice, 128 KiB, stays in L2)
    ///           for each panel of the group (its kc x nr slice stays in L1)
    ///             for each block of mr rows: the microkernel
    ///
    /// so that neither operand streams from memory more than once per group of the other at any
    /// sequence length (x once per group of panels, a weight once per group of rows), and the
    /// block of y a group writes (128 rows x the group's columns) stays in L2 across the slices
    /// that add to it (with the slices outside the groups of rows, a long sequence's y went to
    /// memory between slices: GPT-2 small at 1,024 tokens was 8% slower). The kernels prefetch
    /// the next panel's slice while they compute.
    private func gemmPanels(_ begin: Value, _ end: Value, slices: [(k0: Int, length: Int)], epilogue: Epilogue,
                            precision: GemmPrecision, x: Value, ldx: Int, k K: Int, n N: Int, weights: Value,
                            weightType: DType, bias: Value?, residual: Value?, scales: Value?, rows R: Value, out: Value) {
        let nr = gemm.shape.nr, mr = gemm.shape.mr, rowGroup = GemmShape.rowGroup(mr: mr)
        let element = storageType(weightType), biasElement = storageType(epilogue.biasType)
        let xElement = precision == .bf16Pairs ? ir.i16 : f32
        // Panels hold ldx rows of k (K rounded up to whole pairs in the paired layout); slices
        // start at even k, so a slice of pairs starts on a whole pair.
        let panelK = precision == .bf16Pairs ? ldx : K
        let sliceBytes = GemmShape.kc * nr * weightType.byteSize
        let panelGroup = max(1, GemmShape.panelGroupBytes / sliceBytes)
        // Each step of a kernel asks for one line of the next panel's slice; with n lines a step,
        // row block j asks for lines j mod n of each, so the first n blocks fetch all of it.
        let stepBytes = precision.kStep * nr * weightType.byteSize, linesPerStep = max(1, stepBytes / 64)
        precondition(linesPerStep & (linesPerStep - 1) == 0, "a kernel step covers a power of two of lines")
        // bf16 weights read by the float32 kernel are widened once per panel slice and group of
        // rows into an aligned buffer on the stack (in L1), not by every row block's kernel: the
        // widening's shifts would share the FMA ports with the products at every step.
        let widen = weightType == .bf16 && precision != .bf16Pairs
        precondition(widen || weightType == .f32 || precision == .bf16Pairs, "the kernels read float32 or bf16 pairs")
        let maxSteps = slices.map(\.length).max() ?? 0
        let wide = widen ? b.alloca(ir.array(f32, maxSteps * nr), align: 64) : nil
        let groups = b.sdiv(b.add(b.sub(end, begin), ir.i64(panelGroup - 1)), ir.i64(panelGroup))
        let rowGroups = b.sdiv(b.add(R, ir.i64(rowGroup - 1)), ir.i64(rowGroup))
        b.forLoop(groups) { g in
            let first = b.add(begin, b.mul(g, panelGroup))
            let last = b.add(first, ir.i64(panelGroup))
            let groupEnd = b.select(b.icmp(.slt, last, end), last, end)
            // One slice of K over the group of `rows` rows from r0: every panel of the group, every
            // row block (`blocks` whole ones).
            func sliceOfRows(_ s: Int, r0: Value, rows: Value, blocks: Value) {
                let slice = slices[s]
                let steps = (slice.length + precision.kStep - 1) / precision.kStep
                let kernels = (1...mr).map { rows in
                    gemm.kernel(rows: rows, ldx: ldx, epilogue, accumulate: s > 0, finish: s == slices.count - 1,
                                precision: precision, prefetch: true)
                }
                b.forLoop(first, groupEnd) { p in
                    let col = b.mul(p, nr)
                    let remaining = b.sub(ir.i64(N), col)
                    let cols = b.select(b.icmp(.slt, remaining, ir.i64(nr)), remaining, ir.i64(nr))
                    let biasAt = bias.map { b.gep(biasElement, $0, col) } ?? ir.nullPointer
                    let w = b.gep(element, weights, b.add(b.mul(p, panelK * nr), ir.i64(slice.k0 * nr)))
                    let next = b.gepAnyAddress(element, w, ir.i64(panelK * nr))
                    let panel = wide ?? w
                    if let wide {
                        let lanes = gemm.shape.lanes
                        b.forLoop(steps * nr / lanes) { v in
                            let bits = b.load(ir.vector(ir.i16, lanes), b.gep(ir.i16, w, b.mul(v, ir.i64(lanes))), align: lanes * 2)
                            b.store(widenBF16(b, bits, lanes: lanes), b.gep(f32, wide, b.mul(v, ir.i64(lanes))), align: lanes * 4)
                        }
                    }
                    func call(_ kernel: Function, block: Value) {
                        let row = b.add(r0, b.mul(block, mr))
                        let at = b.add(b.mul(row, N), col)
                        let line = linesPerStep == 1 ? ir.i64(0) : b.and(block, ir.i64(linesPerStep - 1))
                        let ahead = b.gepAnyAddress(ir.i8, next, b.mul(line, ir.i64(steps * 64)))
                        b.call(kernel, [b.gep(xElement, x, b.add(b.mul(row, ldx), ir.i64(slice.k0))), panel,
                                        ir.i64(steps), b.gep(f32, out, at), ir.i64(N), cols, biasAt,
                                        residual.map { b.gep(f32, $0, at) } ?? ir.nullPointer, ir.i64(N),
                                        scales.map { b.gep(f32, $0, row) } ?? ir.nullPointer, ahead])
                    }
                    b.forLoop(blocks) { block in call(kernels[mr - 1], block: block) }
                    // The group's last rows mod mr (only the last group has any) in one block of
                    // just that many rows.
                    forEachRowCount(b.sub(rows, b.mul(blocks, mr)), upTo: mr - 1) { n in
                        call(kernels[n - 1], block: blocks)
                    }
                }
            }
            b.forLoop(rowGroups) { rg in
                let r0 = b.mul(rg, rowGroup), left = b.sub(R, r0)
                let rows = b.select(b.icmp(.slt, left, ir.i64(rowGroup)), left, ir.i64(rowGroup))
                let blocks = b.sdiv(rows, ir.i64(mr))
                for s in slices.indices { sliceOfRows(s, r0: r0, rows: rows, blocks: blocks) }
            }
        }
    }

    /// Rounds x [R, K] (float32; each row times its scale first, if given) to bf16, nearest even,
    /// into `copy` [R, ldx] as bf16 bits (columns K..<ldx are 0), or `asFloats`, as the floats
    /// they stand for.
    func roundRowsToBF16(_ x: Value, scales: Value?, rows R: Value, k K: Int, into copy: Value, ldx: Int,
                         asFloats: Bool) {
        let lanes = gemm.shape.lanes
        let element = asFloats ? f32 : ir.i16
        b.forLoop(R) { r in
            let from = b.gep(f32, x, b.mul(r, K)), to = b.gep(element, copy, b.mul(r, ldx))
            let scale = scales.map { b.splat(loadF($0, r), lanes: lanes) }
            forEachChunk(K, lanes: lanes) { at, mask in
                var v = b.maskedLoad(ir.vector(f32, lanes), b.gep(f32, from, at), mask)
                if let scale { v = b.fmul(v, scale) }
                let bits = roundToBF16(b, v, lanes: lanes)
                if asFloats {
                    b.maskedStore(widenBF16(b, bits, lanes: lanes), b.gep(f32, to, at), mask)
                } else {
                    b.maskedStore(bits, b.gep(ir.i16, to, at), mask, align: 2)
                }
            }
            for k in K..<ldx { b.store(ir.i16(0), b.gep(ir.i16, to, ir.i64(k))) }
        }
    }

    /// y[r, :] = x[r, :] @ W + bias, W [K, N] (or [N, K] when transposed) read in place: for a
    /// weight that is not a parameter, so it cannot be packed at compile time.
    private func lowerUnpackedLinear(x: Value, rows R: Value, k K: Int, n N: Int, w: Value, weightType: DType,
                                     transposed: Bool, bias: Value?, biasType: DType, out: Value) {
        b.forLoop(R) { r in
            let xr = b.gep(f32, x, b.mul(r, K)), yr = b.gep(f32, out, b.mul(r, N))
            if transposed {
                // y[j] = bias[j] + dot(x_r, W[j, :]): both rows contiguous.
                b.forLoop(N) { j in
                    let wj = b.gep(storageType(weightType), w, b.mul(j, K))
                    let dot = sum(ir.i64(K), from: ir.f32(0)) { k in
                        b.fmul(loadF(xr, k), loadFloat(wj, k, weightType), fast: true)
                    }
                    storeF(bias.map { b.fadd(dot, loadFloat($0, j, biasType)) } ?? dot, yr, j)
                }
            } else {
                // y = bias, then y += x[k] * W[k, :] for each k: the inner loop runs along
                // contiguous rows of W and y.
                b.forLoop(N) { j in storeF(bias.map { loadFloat($0, j, biasType) } ?? ir.f32(0), yr, j) }
                b.forLoop(K) { k in
                    let a = loadF(xr, k), wk = b.gep(storageType(weightType), w, b.mul(k, N))
                    b.forLoop(N) { j in
                        storeF(b.fadd(loadF(yr, j), b.fmul(a, loadFloat(wk, j, weightType), fast: true), fast: true), yr, j)
                    }
                }
            }
        }
    }
}

/// The scratch of a linear computed in bf16 (roundedInputScratch).
func linearScratch(_ inst: Instruction, model: Module, gemm: GemmShape) -> [ScratchRequest] {
    guard let x = model.type(of: inst.operands[0]) else { return [] }
    return roundedInputScratch(inst, elements: x.elementCount(seqLen: model.maxSeqLen))
}

/// The copy of a bf16 product's input rounded to bf16 (`x.bf16`), for an input of `elements`
/// floats at most: bf16 rows padded to whole pairs, or the rounded floats, whichever the target
/// gets; the floats are never smaller (4k bytes a row against 2 * (k + 1) rounded to pairs).
func roundedInputScratch(_ inst: Instruction, elements: Int) -> [ScratchRequest] {
    guard inst.computesInBF16 else { return [] }
    return [ScratchRequest(name: "x.bf16", bytes: elements * DType.f32.byteSize)]
}
