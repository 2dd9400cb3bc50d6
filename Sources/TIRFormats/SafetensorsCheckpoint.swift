// A checkpoint's tensors: one safetensors file, or the shards a `model.safetensors.index.json`
// names (Hugging Face's sharded checkpoints: {"metadata": {...}, "weight_map": {tensor: shard}}).
// The importer and the weight loader read tensors through it, whichever the checkpoint is.
import Foundation
import TIR

public struct SafetensorsCheckpoint: Sendable {
    /// The file the model names: a `.safetensors` file or a shard index.
    public let path: String
    /// The files holding the tensors (one, or the shards in the index's order of first use).
    public let files: [SafetensorsFile]
    /// Which file holds each tensor.
    private let fileOfTensor: [String: Int]

    /// The index files are told apart by name: `*.index.json`.
    public static func isShardIndex(_ path: String) -> Bool { path.hasSuffix(".index.json") }

    /// Opens `path`: a safetensors file, or a shard index whose shards (paths relative to the
    /// index's folder) are opened and validated, every tensor the index maps checked to be in
    /// its shard. Errors name the file at fault.
    public init(path: String) throws(Diagnostic) {
        self.path = path
        guard Self.isShardIndex(path) else {
            let file = try SafetensorsFile(path: path)
            files = [file]
            fileOfTensor = Dictionary(file.names.map { ($0, 0) }, uniquingKeysWith: { a, _ in a })
            return
        }
        func fail(_ message: String) -> Diagnostic { Diagnostic(file: path, loc: nil, message) }
        let bytes = try BinaryFile.read(path)
        let json: JSONValue
        do {
            json = try JSONValue.parse([UInt8](bytes))
        } catch {
            throw fail("invalid JSON: \(error)")
        }
        guard let index = json.objectValue, let map = index["weight_map"]?.objectValue else {
            throw fail("a shard index must be an object with a \"weight_map\" object (tensor name: shard file)")
        }
        let folder = (path as NSString).deletingLastPathComponent
        var shardNames: [String] = [], shardOf: [String: Int] = [:], fileOfTensor: [String: Int] = [:]
        for (tensor, value) in map.pairs {
            guard let shard = value.stringValue, !shard.isEmpty, !shard.contains("/"), shard != "..", shard != "." else {
                throw fail("weight_map[\"\(tensor)\"] must name a shard file in the index's folder")
            }
            if shardOf[shard] == nil {
                shardOf[shard] = shardNames.count
                shardNames.append(shard)
            }
            fileOfTensor[tensor] = shardOf[shard]
        }
        guard !shardNames.isEmpty else { throw fail("the weight_map is empty") }
        var files: [SafetensorsFile] = []
        for shard in shardNames {
            let shardPath = folder.isEmpty ? shard : (folder as NSString).appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: shardPath) else { throw fail("shard '\(shard)' not found") }
            files.append(try SafetensorsFile(path: shardPath))
        }
        for (tensor, file) in fileOfTensor where files[file].entry(named: tensor) == nil {
            throw fail("weight_map puts '\(tensor)' in '\(shardNames[file])', which does not hold it")
        }
        self.files = files
        self.fileOfTensor = fileOfTensor
    }

    /// Every tensor's name.
    public var names: [String] { fileOfTensor.keys.sorted() }

    public func entry(named name: String) -> SafetensorsEntry? {
        fileOfTensor[name].flatMap { files[$0].entry(named: name) }
    }

    /// The file that holds tensor `name` (for messages).
    public func file(of name: String) -> String? { fileOfTensor[name].map { files[$0].path } }

    /// The tensor of `entry` (one of this checkpoint's), converted as SafetensorsFile.tensor does.
    public func tensor(_ entry: SafetensorsEntry, floats: DType = .f32) throws(Diagnostic) -> HostTensor {
        guard let file = fileOfTensor[entry.name] else {
            throw Diagnostic(file: path, loc: nil, "tensor '\(entry.name)' does not belong to this checkpoint")
        }
        return try files[file].tensor(entry, floats: floats)
    }
}
