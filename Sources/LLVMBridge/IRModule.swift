// An LLVM module with the context that owns it, plus typed handles for types, values,
// functions and blocks.
import CLLVM

public struct IRType: Hashable, @unchecked Sendable {
    let ref: LLVMTypeRef

    /// For a function type: its number of parameters and each one's type.
    public var paramCount: Int { Int(LLVMCountParamTypes(ref)) }
    public func param(_ i: Int) -> IRType {
        var types = [LLVMTypeRef?](repeating: nil, count: paramCount)
        LLVMGetParamTypes(ref, &types)
        return IRType(ref: types[i]!)
    }
}

public struct Value: Hashable, @unchecked Sendable {
    let ref: LLVMValueRef
}

public struct Block: Hashable, @unchecked Sendable {
    let ref: LLVMBasicBlockRef
}

public struct Function: Hashable, @unchecked Sendable {
    let ref: LLVMValueRef
    public let type: IRType

    public func param(_ i: Int) -> Value { Value(ref: LLVMGetParam(ref, UInt32(i))) }
    public var value: Value { Value(ref: ref) }
}

/// A module and its context. A module made for the JIT lives in a ThreadSafeContext and is
/// handed over (consumed) with `takeThreadSafeModule()`; otherwise both die with this object.
public final class IRModule: @unchecked Sendable {
    let ref: LLVMModuleRef
    let context: LLVMContextRef
    private let threadSafeContext: LLVMOrcThreadSafeContextRef?
    private var consumed = false

    public init(name: String, forJIT: Bool = false) {
        if forJIT {
            let tsc = LLVMOrcCreateNewThreadSafeContext()!
            threadSafeContext = tsc
            context = LLVMOrcThreadSafeContextGetContext(tsc)
        } else {
            threadSafeContext = nil
            context = LLVMContextCreate()
        }
        ref = LLVMModuleCreateWithNameInContext(name, context)
    }

    deinit {
        if !consumed { LLVMDisposeModule(ref) }
        if let threadSafeContext {
            LLVMOrcDisposeThreadSafeContext(threadSafeContext)  // a ThreadSafeModule keeps its own reference
        } else {
            LLVMContextDispose(context)
        }
    }

    /// Wraps the module for the JIT, which takes ownership: the module must not be used after.
    func takeThreadSafeModule() -> LLVMOrcThreadSafeModuleRef {
        precondition(!consumed && threadSafeContext != nil, "module already consumed or not made for the JIT")
        consumed = true
        return LLVMOrcCreateNewThreadSafeModule(ref, threadSafeContext)
    }

    // MARK: Types

    public var f32: IRType { IRType(ref: LLVMFloatTypeInContext(context)) }
    public var f64: IRType { IRType(ref: LLVMDoubleTypeInContext(context)) }
    public var bfloat: IRType { IRType(ref: LLVMBFloatTypeInContext(context)) }
    public var i1: IRType { IRType(ref: LLVMInt1TypeInContext(context)) }
    public var i8: IRType { IRType(ref: LLVMInt8TypeInContext(context)) }
    public var i16: IRType { IRType(ref: LLVMInt16TypeInContext(context)) }
    public var i32: IRType { IRType(ref: LLVMInt32TypeInContext(context)) }
    public var i64: IRType { IRType(ref: LLVMInt64TypeInContext(context)) }
    public var ptr: IRType { IRType(ref: LLVMPointerTypeInContext(context, 0)) }
    public var void: IRType { IRType(ref: LLVMVoidTypeInContext(context)) }
    /// A literal (unnamed) struct type.
    public func structType(_ fields: [IRType]) -> IRType {
        var refs: [LLVMTypeRef?] = fields.map(\.ref)
        return IRType(ref: LLVMStructTypeInContext(context, &refs, UInt32(refs.count), 0))
    }
    public func vector(_ element: IRType, _ lanes: Int) -> IRType { IRType(ref: LLVMVectorType(element.ref, UInt32(lanes))) }
    public func array(_ element: IRType, _ count: Int) -> IRType { IRType(ref: LLVMArrayType2(element.ref, UInt64(count))) }

    public func functionType(_ result: IRType, _ params: [IRType]) -> IRType {
        var refs: [LLVMTypeRef?] = params.map(\.ref)
        return IRType(ref: LLVMFunctionType(result.ref, &refs, UInt32(refs.count), 0))
    }

    // MARK: Constants

    public func f32(_ v: Double) -> Value { Value(ref: LLVMConstReal(f32.ref, v)) }
    public func i64(_ v: Int) -> Value { Value(ref: LLVMConstInt(i64.ref, UInt64(bitPattern: Int64(v)), 1)) }
    /// A vector constant with every lane `v`.
    public func f32(_ v: Double, lanes: Int) -> Value {
        if lanes == 1 { return f32(v) }
        var refs = [LLVMValueRef?](repeating: f32(v).ref, count: lanes)
        return Value(ref: LLVMConstVector(&refs, UInt32(lanes)))
    }
    public func i32(_ v: Int, lanes: Int) -> Value {
        if lanes == 1 { return i32(v) }
        var refs = [LLVMValueRef?](repeating: i32(v).ref, count: lanes)
        return Value(ref: LLVMConstVector(&refs, UInt32(lanes)))
    }
    public func i16(_ v: Int) -> Value { Value(ref: LLVMConstInt(i16.ref, UInt64(bitPattern: Int64(v)), 1)) }
    public func i8(_ v: Int) -> Value { Value(ref: LLVMConstInt(i8.ref, UInt64(bitPattern: Int64(v)), 1)) }
    public func i1(_ v: Bool) -> Value { Value(ref: LLVMConstInt(i1.ref, v ? 1 : 0, 0)) }
    public var nullPointer: Value { Value(ref: LLVMConstPointerNull(ptr.ref)) }
    public func i32(_ v: Int) -> Value { Value(ref: LLVMConstInt(i32.ref, UInt64(bitPattern: Int64(v)), 1)) }

    // MARK: Functions and globals

    public enum Linkage { case external, `internal`, `private` }

    public func addFunction(_ name: String, _ type: IRType, linkage: Linkage = .external) -> Function {
        let fn = LLVMAddFunction(ref, name, type.ref)!
        switch linkage {
        case .external: break
        case .internal: LLVMSetLinkage(fn, LLVMInternalLinkage)
        case .private: LLVMSetLinkage(fn, LLVMPrivateLinkage)
        }
        return Function(ref: fn, type: type)
    }

    /// The function named `name` in this module, if there is one.
    public func function(named name: String, type: IRType) -> Function? {
        LLVMGetNamedFunction(ref, name).map { Function(ref: $0, type: type) }
    }

    /// A declaration of an external function (e.g. libm's `tanhf`), reused if already declared.
    public func declare(_ name: String, _ type: IRType) -> Function {
        if let existing = LLVMGetNamedFunction(ref, name) { return Function(ref: existing, type: type) }
        return addFunction(name, type)
    }

    /// An (overloaded) intrinsic such as `llvm.exp` with overload types [f32].
    public func intrinsic(_ name: String, _ overloads: [IRType]) -> Function {
        let id = LLVMLookupIntrinsicID(name, name.utf8.count)
        precondition(id != 0, "unknown intrinsic \(name)")
        var types: [LLVMTypeRef?] = overloads.map(\.ref)
        return Function(ref: LLVMGetIntrinsicDeclaration(ref, id, &types, types.count),
                        type: IRType(ref: LLVMIntrinsicGetType(context, id, &types, types.count)))
    }

    /// Adds an enum attribute (`nounwind`, `noalias`, `nocapture`, `readonly`, `noundef`) to
    /// the function (index nil) or to parameter `index` (0-based).
    public func addAttribute(_ name: String, to fn: Function, param index: Int? = nil) {
        let kind = LLVMGetEnumAttributeKindForName(name, name.utf8.count)
        precondition(kind != 0, "unknown attribute \(name)")
        let attr = LLVMCreateEnumAttribute(context, kind, 0)
        let at = index.map { LLVMAttributeIndex($0 + 1) } ?? LLVMAttributeIndex(bitPattern: Int32(LLVMAttributeFunctionIndex))
        LLVMAddAttributeAtIndex(fn.ref, at, attr)
    }

    /// `nounwind`, and on x86 the target's full vector width for explicit and auto-vectorized
    /// code (without it, AVX-512 code is split into 256-bit halves): every function tfc emits.
    public func addCodeAttributes(to fn: Function, target: TargetSpec) {
        addAttribute("nounwind", to: fn)
        // The CPU on the function itself, not only on the target machine: one object may hold
        // code for several CPUs, each function compiled for its own.
        addAttribute("target-cpu", target.cpu, to: fn)
        if !target.features.isEmpty { addAttribute("target-features", target.features, to: fn) }
        if target.isX86 {
            addAttribute("prefer-vector-width", "\(target.vectorBits)", to: fn)
            addAttribute("min-legal-vector-width", "\(target.vectorBits)", to: fn)
        }
    }

    /// A string attribute on the function, e.g. "prefer-vector-width"="512".
    public func addAttribute(_ key: String, _ value: String, to fn: Function) {
        let attr = LLVMCreateStringAttribute(context, key, UInt32(key.utf8.count), value, UInt32(value.utf8.count))
        LLVMAddAttributeAtIndex(fn.ref, LLVMAttributeIndex(bitPattern: Int32(LLVMAttributeFunctionIndex)), attr)
    }

    /// A private global i32 initialized to `initial` (a once-computed cache).
    public func addGlobalInt32(_ name: String, initial: Int) -> Value {
        let global = LLVMAddGlobal(ref, LLVMInt32TypeInContext(context), name)!
        LLVMSetInitializer(global, i32(initial).ref)
        LLVMSetLinkage(global, LLVMPrivateLinkage)
        LLVMSetAlignment(global, 4)
        return Value(ref: global)
    }

    /// Inline assembly of function type `type` (AT&T syntax), e.g. `cpuid` with constraints
    /// "={ax},={bx},={cx},={dx},{ax},{cx}"; call it with IRBuilder.callInlineAsm.
    public func inlineAsm(_ type: IRType, _ assembly: String, constraints: String, sideEffects: Bool) -> Function {
        var asmText = Array(assembly.utf8CString), constraintText = Array(constraints.utf8CString)
        let v = LLVMGetInlineAsm(type.ref, &asmText, assembly.utf8.count, &constraintText, constraints.utf8.count,
                                 sideEffects ? 1 : 0, 0, LLVMInlineAsmDialectATT, 0)!
        return Function(ref: v, type: type)
    }

    /// A private constant holding raw bytes (weights), built as one ConstantDataArray: one
    /// LLVMValueRef per element would be hundreds of times slower for large tensors.
    public func addConstantBytes(_ name: String, _ bytes: UnsafeRawBufferPointer, alignment: Int = 64) -> Value {
        let data = LLVMConstStringInContext2(context, bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                                             bytes.count, 1)  // 1: no NUL terminator
        let global = LLVMAddGlobal(ref, LLVMTypeOf(data), name)!
        LLVMSetInitializer(global, data)
        LLVMSetGlobalConstant(global, 1)
        LLVMSetLinkage(global, LLVMPrivateLinkage)
        LLVMSetUnnamedAddress(global, LLVMGlobalUnnamedAddr)
        LLVMSetAlignment(global, UInt32(alignment))
        return Value(ref: global)
    }

    /// A declaration of writable data defined elsewhere (for the JIT: host memory registered with
    /// `JIT.define`).
    public func addExternalGlobal(_ name: String, alignment: Int = 8) -> Value {
        let global = LLVMAddGlobal(ref, LLVMInt8TypeInContext(context), name)!
        LLVMSetAlignment(global, UInt32(alignment))
        return Value(ref: global)
    }

    /// A declaration of constant data defined elsewhere (for the JIT: host memory registered
    /// with `JIT.define`), read with the given alignment.
    public func addExternalConstant(_ name: String, alignment: Int = 64) -> Value {
        let global = LLVMAddGlobal(ref, LLVMInt8TypeInContext(context), name)!
        LLVMSetGlobalConstant(global, 1)
        LLVMSetAlignment(global, UInt32(alignment))
        return Value(ref: global)
    }

    /// Hidden visibility (which makes it dso_local): a symbol this object defines (or will),
    /// reached PC-relative and not exported.
    public func makeHiddenAndLocal(_ global: Value) {
        LLVMSetVisibility(global.ref, LLVMHiddenVisibility)
    }

    /// Whether any instruction or constant refers to `value`.
    public func hasUses(_ value: Value) -> Bool { LLVMGetFirstUse(value.ref) != nil }

    public func replaceAllUses(of old: Value, with new: Value) { LLVMReplaceAllUsesWith(old.ref, new.ref) }

    /// Removes a global variable (with no uses left) from the module.
    public func deleteGlobal(_ global: Value) { LLVMDeleteGlobal(global.ref) }

    /// A private, writable pointer global initialized to NULL (the weights' base address, set
    /// at run time).
    public func addPointerGlobal(_ name: String) -> Value {
        let global = LLVMAddGlobal(ref, LLVMPointerTypeInContext(context, 0), name)!
        LLVMSetInitializer(global, LLVMConstPointerNull(LLVMPointerTypeInContext(context, 0)))
        LLVMSetLinkage(global, LLVMInternalLinkage)
        LLVMSetAlignment(global, 8)
        return Value(ref: global)
    }

    /// Rewrites every use of each global `(global, offset)` into `base + offset`, where `base` is
    /// the pointer stored in `pointer`, loaded once at the top of each function that needs it
    /// (marked invariant: nothing the code does changes it while it runs, so LLVM may keep it in
    /// a register), then deletes the globals. The uses may be instructions or constant
    /// expressions (a GEP with constant indices over the global, as IRBuilder folds them); those
    /// become instructions. Anything else is a thrown error, never a silent leftover.
    public func redirect(_ globals: [(global: Value, offset: Int)], through pointer: Value, alignment: Int) throws {
        let i8 = LLVMInt8TypeInContext(context)!, ptrType = LLVMPointerTypeInContext(context, 0)!
        let builder = LLVMCreateBuilderInContext(context)!
        defer { LLVMDisposeBuilder(builder) }
        let invariant = LLVMGetMDKindIDInContext(context, "invariant.load", 14)
        let alignKind = LLVMGetMDKindIDInContext(context, "align", 5), nonNull = LLVMGetMDKindIDInContext(context, "nonnull", 7)
        let emptyNode = LLVMMetadataAsValue(context, LLVMMDNodeInContext2(context, nil, 0))
        var alignValue: [LLVMMetadataRef?] = [LLVMValueAsMetadata(LLVMConstInt(LLVMInt64TypeInContext(context), UInt64(alignment), 0))]
        let alignNode = LLVMMetadataAsValue(context, LLVMMDNodeInContext2(context, &alignValue, 1))
        /// Per function: the instruction before which new ones go (the entry block's first), and the base.
        var bases: [LLVMValueRef: LLVMValueRef] = [:]
        func base(in function: LLVMValueRef) -> LLVMValueRef {
            if let b = bases[function] { return b }
            LLVMPositionBuilderBefore(builder, LLVMGetFirstInstruction(LLVMGetEntryBasicBlock(function)))
            let load = LLVMBuildLoad2(builder, ptrType, pointer.ref, "weights")!
            LLVMSetAlignment(load, 8)
            LLVMSetMetadata(load, invariant, emptyNode)
            LLVMSetMetadata(load, nonNull, emptyNode)
            LLVMSetMetadata(load, alignKind, alignNode)
            bases[function] = load
            return load
        }
        /// The function an instruction belongs to.
        func function(of instruction: LLVMValueRef) -> LLVMValueRef {
            LLVMGetBasicBlockParent(LLVMGetInstructionParent(instruction))
        }
        /// An instruction right after the function's base load computing `make(builder)`.
        func atTop(of fn: LLVMValueRef, _ make: (LLVMBuilderRef, LLVMValueRef) -> LLVMValueRef) -> LLVMValueRef {
            let b = base(in: fn)
            LLVMPositionBuilderBefore(builder, LLVMGetNextInstruction(b))
            return make(builder, b)
        }
        func users(of value: LLVMValueRef) -> [LLVMValueRef] {
            var result: [LLVMValueRef] = []
            var use = LLVMGetFirstUse(value)
            while let u = use {
                let user = LLVMGetUser(u)!
                if !result.contains(user) { result.append(user) }
                use = LLVMGetNextUse(u)
            }
            return result
        }
        /// Whether an instruction uses `value`, directly or through constant expressions.
        func hasLiveUse(_ value: LLVMValueRef) -> Bool {
            users(of: value).contains { LLVMIsAInstruction($0) != nil || LLVMIsAGlobalValue($0) != nil || hasLiveUse($0) }
        }
        func replaceOperands(of user: LLVMValueRef, _ old: LLVMValueRef, with new: LLVMValueRef) {
            for i in 0..<LLVMGetNumOperands(user) where LLVMGetOperand(user, UInt32(i)) == old {
                LLVMSetOperand(user, UInt32(i), new)
            }
        }
        for (global, offset) in globals {
            for user in users(of: global.ref) {
                if LLVMIsAInstruction(user) != nil {
                    let fn = function(of: user)
                    let address = atTop(of: fn) { builder, b in
                        var index: [LLVMValueRef?] = [LLVMConstInt(LLVMInt64TypeInContext(context), UInt64(offset), 0)]
                        return LLVMBuildInBoundsGEP2(builder, i8, b, &index, 1, "")
                    }
                    replaceOperands(of: user, global.ref, with: address)
                } else if LLVMIsAConstantExpr(user) != nil, LLVMGetConstOpcode(user) == LLVMGetElementPtr {
                    // gep(T, @global, c...) used by instructions: gep(T, base + offset, c...).
                    let source = LLVMGetGEPSourceElementType(user)
                    var indices = (1..<LLVMGetNumOperands(user)).map { LLVMGetOperand(user, UInt32($0)) }
                    for inner in users(of: user) {
                        guard LLVMIsAInstruction(inner) != nil else {
                            throw LLVMError("a weight is used by a nested constant expression, which tfc cannot redirect")
                        }
                        let fn = function(of: inner)
                        let address = atTop(of: fn) { builder, b in
                            var index: [LLVMValueRef?] = [LLVMConstInt(LLVMInt64TypeInContext(context), UInt64(offset), 0)]
                            let start = LLVMBuildInBoundsGEP2(builder, i8, b, &index, 1, "")!
                            return LLVMBuildInBoundsGEP2(builder, source, start, &indices, UInt32(indices.count), "")
                        }
                        replaceOperands(of: inner, user, with: address)
                    }
                } else {
                    throw LLVMError("a weight has a use tfc cannot redirect to the weights file")
                }
            }
            // What is left are the folded GEPs no instruction uses any more: they go with the global.
            guard !hasLiveUse(global.ref) else { throw LLVMError("a weight is still used after its redirection") }
            LLVMReplaceAllUsesWith(global.ref, LLVMConstPointerNull(ptrType))
            LLVMDeleteGlobal(global.ref)
        }
    }

    public func appendBlock(_ fn: Function, _ name: String) -> Block {
        Block(ref: LLVMAppendBasicBlockInContext(context, fn.ref, name))
    }

    // MARK: Whole-module operations

    public func verify() throws {
        var msg: UnsafeMutablePointer<CChar>?
        let broken = LLVMVerifyModule(ref, LLVMReturnStatusAction, &msg) != 0
        let text = take(msg)
        if broken { throw LLVMError("invalid LLVM IR: \(text)") }
    }

    /// The textual LLVM IR.
    public var text: String { take(LLVMPrintModuleToString(ref)) }
}
