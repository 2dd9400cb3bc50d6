// Fuzzes the safetensors reader: open an in-memory image, then convert every tensor. Any input
// may be rejected with a diagnostic; none may crash, hang or allocate beyond its own size.
//
// Each input is read twice: as the file image itself, and as "header JSON, NUL, data" turned
// into an image with the right 8-byte length in front. A mutation that changes the header's
// length rarely fixes the length field too, so without the second form the fuzzer would mostly
// explore same-length edits of the seed headers.
import Foundation
import FuzzSupport
import TIR
import TIRFormats

func check(_ image: Data) {
    let file: SafetensorsFile
    do throws(Diagnostic) {
        file = try SafetensorsFile(bytes: image, path: "fuzz.safetensors")
    } catch {
        _ = error.description
        return
    }
    for entry in file.entries {
        guard file.entry(named: entry.name) != nil else { fail("entry '\(entry.name)' cannot be looked up") }
        guard entry.dataOffsets.upperBound <= image.count else { fail("entry '\(entry.name)' runs past the input") }
        do throws(Diagnostic) {
            let tensor = try file.tensor(entry)
            guard tensor.shape == entry.shape, tensor.count == entry.elementCount else {
                fail("tensor '\(entry.name)': shape \(tensor.shape) (\(tensor.count) values), header says \(entry.shape)")
            }
        } catch {
            _ = error.description
        }
    }
    _ = file.metadata.count
}

runFuzzer { data in
    let bytes = Data(data)
    check(bytes)
    let split = bytes.firstIndex(of: 0) ?? bytes.endIndex
    var image = Data()
    withUnsafeBytes(of: UInt64(split - bytes.startIndex).littleEndian) { image.append(contentsOf: $0) }
    image.append(bytes[..<split])
    if split < bytes.endIndex { image.append(bytes[(split + 1)...]) }
    check(image)
}
