// The op table of code generation: for each op, the function that emits its code and the
// workspace scratch it needs while it runs. The forward function's dispatch and the memory plan
// both read it, so an op's code and its memory needs live in one file under Ops/.
import LLVMBridge
import TIR

/// Workspace memory an op needs while it runs, beside its result (attention's packed keys and
/// values, patch_embed's gathered patches). The memory plan places it, live only during the op;
/// the op finds it with `FunctionLowering.scratch(_:_:)`.
struct ScratchRequest: Hashable {
    var name: String
    var bytes: Int
}

struct OpLowering {
    /// Emits the op's code into the forward function.
    var lower: (FunctionLowering) -> (OpContext) throws -> Void
    /// The scratch it needs, for the model's largest sequence length.
    var scratch: (_ inst: Instruction, _ model: Module, _ gemm: GemmShape) -> [ScratchRequest] = { _, _, _ in [] }

    /// The one table: adding an op to TIR adds a case here, pointing into its family's file.
    static func of(_ op: OpKind) -> OpLowering {
        switch op {
        case .embedding: return OpLowering(lower: FunctionLowering.lowerEmbedding)
        case .positions, .selectRow: return OpLowering(lower: FunctionLowering.lowerRowSlice)
        case .clsToken: return OpLowering(lower: FunctionLowering.lowerClsToken)
        case .linear: return OpLowering(lower: FunctionLowering.lowerLinear, scratch: linearScratch)
        case .patchEmbed: return OpLowering(lower: FunctionLowering.lowerPatchEmbed, scratch: patchEmbedScratch)
        case .layernorm, .rmsnorm, .crmsnorm: return OpLowering(lower: FunctionLowering.lowerNorm)
        case .attention: return OpLowering(lower: FunctionLowering.lowerAttention, scratch: attentionScratch)
        case .add, .mul: return OpLowering(lower: FunctionLowering.lowerBinary)
        case .gelu, .tanh, .relu: return OpLowering(lower: FunctionLowering.lowerActivation)
        case .rope: return OpLowering(lower: FunctionLowering.lowerRope)
        }
    }
}
