// Every file a command writes goes through one `OutputSet`: the command names the files it reads
// and the files it will write; the set refuses an output that would replace an input (same
// device and inode, after following links), two outputs that name the same file, and paths
// that cannot be a file (empty, a folder, a device or FIFO, a missing folder). Only then are the
// contents written, each to a temporary file in its target folder, flushed to disk, and renamed
// into place one after another. A failure removes every temporary; so does SIGINT, SIGTERM or
// SIGHUP while temporaries exist (the handler unlinks them and re-raises the signal).
//
// The renames themselves are not one atomic step: a crash between two renames leaves the
// outputs renamed so far in place beside older versions of the rest (see Docs/testing.md).
import Foundation
import TIR
import TIRFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file's identity: two paths name the same file when these agree.
struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64
}

/// The identity of the file `path` names, following links; nil when there is none.
func fileIdentity(_ path: String) -> FileIdentity? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
}

/// `path` with every link and `.`/`..` resolved; nil when it does not exist.
func resolvedPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// The files one command writes, checked against the files it reads, written all together.
public final class OutputSet {

    private struct Input {
        let what: String
        let path: String
        let identity: FileIdentity
    }

    private struct Output {
        let option: String
        let path: String
        let resolved: String
        let identity: FileIdentity?
        var contents: Data?
        /// A streamed output's temporary, written before commit (OutputSet.stream).
        var streamed: StreamedFile?
    }

    private var inputs: [Input] = []
    private var outputs: [Output] = []
    /// Indices into `outputs`, in the order their contents were given: the order of the renames.
    private var provided: [Int] = []

    public init() {}

    /// Records a file the command reads (`what`: "model", "weights file", ...). A path that
    /// names no file is skipped: there is nothing to protect.
    public func reads(_ path: String, as what: String) {
        guard let identity = fileIdentity(path) else { return }
        inputs.append(Input(what: what, path: path, identity: identity))
    }

    /// Records the parameters' file of a model (if it has one) and the model itself.
    func reads(model: LoadedModel) {
        reads(model.path, as: "model")
        if case .file(let name) = model.module.weights {
            reads(resolveWeightsPath(name, tirPath: model.path), as: "weights file")
        }
    }

    /// Declares an output given as `option` (`-o`, `--header`, ...): fails, before anything is
    /// written, when the path cannot be written as a new file, names an input, or names
    /// another output of the command.
    public func declare(_ path: String, option: String) throws {
        func fail(_ message: String) -> DriverError {
            DriverError("error: \(option) \(path.isEmpty ? "\"\"" : path): \(message)")
        }
        guard !path.isEmpty else { throw fail("the path is empty; give a file name") }
        var info = stat()
        let exists = stat(path, &info) == 0
        if path.hasSuffix("/") || (exists && (info.st_mode & S_IFMT) == S_IFDIR) {
            throw fail("is a folder; give a file name")
        }
        if exists && (info.st_mode & S_IFMT) != S_IFREG {
            throw fail("exists and is not a regular file (a device, FIFO or socket); tfc writes only regular files")
        }
        let url = URL(fileURLWithPath: path)
        let given = (path as NSString).deletingLastPathComponent
        let folder = given.isEmpty ? "." : given
        var folderInfo = stat()
        guard stat(folder, &folderInfo) == 0 else { throw fail("the folder \(folder) does not exist") }
        guard (folderInfo.st_mode & S_IFMT) == S_IFDIR else { throw fail("\(folder) is not a folder") }
        guard let realFolder = resolvedPath(folder) else { throw fail("cannot resolve the folder \(folder)") }
        let resolved = exists ? (resolvedPath(path) ?? path)
                              : (realFolder == "/" ? "" : realFolder) + "/" + url.lastPathComponent
        let identity = exists ? FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) : nil
        if let identity, let input = inputs.first(where: { $0.identity == identity }) {
            throw fail("would overwrite the input \(input.what) \(input.path)")
        }
        if let other = outputs.first(where: { $0.resolved == resolved || (identity != nil && $0.identity == identity) }) {
            throw fail("names the same file as \(other.option) \(other.path); two outputs cannot share a path")
        }
        outputs.append(Output(option: option, path: path, resolved: resolved, identity: identity, contents: nil,
                              streamed: nil))
    }

    /// Gives the contents of the declared output `path`. (Encoders such as encodeNpy hand over
    /// bytes rather than write files: only this class creates files, so every temporary is one
    /// it removes on an error or a signal.)
    public func provide(_ path: String, _ contents: Data) {
        guard let i = outputs.firstIndex(where: { $0.path == path }) else {
            preconditionFailure("output \(path) was not declared")
        }
        outputs[i].contents = contents
        provided.removeAll { $0 == i }
        provided.append(i)
    }

    /// Opens the declared output `path` to be written as its contents are made, at any offsets
    /// (a file too large to hold in memory): a temporary beside it, created now, flushed and
    /// renamed into place by `commit` after the outputs given contents before it; removed, like
    /// every temporary, when the command fails first (or on a signal).
    public func stream(_ path: String) throws -> StreamedFile {
        guard let i = outputs.firstIndex(where: { $0.path == path }) else {
            preconditionFailure("output \(path) was not declared")
        }
        installTemporaryCleanup()
        let temp = try createTemporary(for: path, option: outputs[i].option)
        let fd = open(temp.path, O_WRONLY | O_TRUNC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp.path)
            unregisterTemporary(temp.slot)
            throw DriverError("error: \(outputs[i].option) \(path): cannot write the file: \(reason)")
        }
        let file = StreamedFile(fd: fd, temporary: temp, option: outputs[i].option, path: path)
        outputs[i].streamed = file
        outputs[i].contents = Data()  // counted among the outputs written
        provided.removeAll { $0 == i }
        provided.append(i)
        return file
    }

    deinit {
        // Streamed temporaries that no commit renamed.
        for output in outputs { output.streamed?.discard() }
    }

    /// Writes every output that has contents: all to temporaries, each flushed, then renamed
    /// into place one after another, in the order the contents were given. Returns the paths
    /// written, in the order they were declared.
    @discardableResult
    public func commit() throws -> [String] {
        let pending = provided.map { outputs[$0] }
        installTemporaryCleanup()
        var temporaries: [(slot: Int, path: String)] = []
        var renamed = 0
        defer {
            for t in temporaries[renamed...] {
                unlink(t.path)
                unregisterTemporary(t.slot)
            }
        }
        for output in pending {
            if let streamed = output.streamed {
                try streamed.finish()
                temporaries.append(streamed.temporary)
                streamed.handOver()
                continue
            }
            let temp = try createTemporary(for: output.path, option: output.option)
            temporaries.append(temp)
            try writeContents(output.contents!, to: temp.path, output: output)
        }
        if let raw = ProcessInfo.processInfo.environment["TFC_RAISE_AFTER_TEMPORARIES"], let sig = Int32(raw) {
            // For the tests of the signal handler: a signal arriving with every temporary written.
            raise(sig)
        }
        for (output, temp) in zip(pending, temporaries) {
            guard rename(temp.path, output.path) == 0 else {
                let reason = String(cString: strerror(errno))
                let done = pending[..<renamed].map(\.path)
                throw DriverError("error: \(output.option) \(output.path): cannot write the file: \(reason)"
                                  + (done.isEmpty ? "" : " (already written: \(done.joined(separator: ", ")))"))
            }
            unregisterTemporary(temp.slot)
            renamed += 1
        }
        // Make the renames durable too.
        for folder in Set(pending.map { URL(fileURLWithPath: $0.path).deletingLastPathComponent().path }) {
            let fd = open(folder, O_RDONLY)
            if fd >= 0 {
                fsync(fd)
                close(fd)
            }
        }
        return outputs.filter { $0.contents != nil }.map(\.path)
    }

    /// A new, empty temporary file beside `path`, registered for removal on a signal.
    private func createTemporary(for path: String, option: String) throws -> (slot: Int, path: String) {
        let url = URL(fileURLWithPath: path)
        let template = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tfc-XXXXXX").path
        var bytes = Array(template.utf8CString)
        // Register the name before the file exists, so that no moment leaves it unregistered.
        let slot = try registerTemporary(bytes, option: option, path: path)
        let fd = bytes.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            unregisterTemporary(slot)
            throw DriverError("error: \(option) \(path): cannot create a temporary file beside it: \(reason)")
        }
        close(fd)
        let created = String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        setTemporary(slot, created)
        // mkstemp makes the file private (0600): give it the mode a new file gets.
        let mask = umask(0)
        umask(mask)
        chmod(created, 0o666 & ~mask)
        return (slot, created)
    }

    private func writeContents(_ data: Data, to temp: String, output: Output) throws {
        func fail(_ reason: String) -> DriverError {
            DriverError("error: \(output.option) \(output.path): cannot write the file: \(reason)")
        }
        let fd = open(temp, O_WRONLY | O_TRUNC)
        guard fd >= 0 else { throw fail(String(cString: strerror(errno))) }
        defer { close(fd) }
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail(String(cString: strerror(errno)))
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw fail(String(cString: strerror(errno))) }
    }
}

/// An output written as it is made (OutputSet.stream): positioned writes to its temporary.
public final class StreamedFile: @unchecked Sendable {
    private var fd: Int32
    let temporary: (slot: Int, path: String)
    let option: String
    let path: String
    /// Whether the temporary is still this object's to remove (commit takes it over).
    private var owned = true
    private let lock = NSLock()

    init(fd: Int32, temporary: (slot: Int, path: String), option: String, path: String) {
        self.fd = fd
        self.temporary = temporary
        self.option = option
        self.path = path
    }

    private func fail(_ reason: String) -> DriverError {
        DriverError("error: \(option) \(path): cannot write the file: \(reason)")
    }

    /// The temporary's path, for a writer that opens the file itself (LLVM's object emission);
    /// it must not remove or rename it.
    public var temporaryPath: String { temporary.path }

    /// Writes `bytes` at `offset`, all of them (pwrite retried on short writes and EINTR).
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { throw fail("the file is already closed") }
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw fail(String(cString: strerror(errno)))
            }
            done += n
        }
    }

    /// Flushes and closes the file.
    func finish() throws {
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { return }
        defer {
            close(fd)
            fd = -1
        }
        guard fsync(fd) == 0 else { throw fail(String(cString: strerror(errno))) }
    }

    /// Commit renames or removes the temporary from here on.
    func handOver() { owned = false }

    /// Closes and removes the temporary unless commit took it over.
    func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        guard owned else { return }
        owned = false
        unlink(temporary.path)
        unregisterTemporary(temporary.slot)
    }
}

// MARK: - Removing temporaries on a signal
//
// The handler only reads a fixed table of C strings made before it could run, calls unlink,
// restores the default action and re-raises: all async-signal-safe.

private let temporarySlotCount = 64
nonisolated(unsafe) private let temporarySlots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
    let slots = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: temporarySlotCount)
    slots.initialize(repeating: nil, count: temporarySlotCount)
    return slots
}()
private let temporaryLock = NSLock()
nonisolated(unsafe) private var handlersInstalled = false

private func removeTemporariesAndReraise(_ signalNumber: Int32) {
    for i in 0..<temporarySlotCount {
        if let path = temporarySlots[i] { unlink(path) }
    }
    signal(signalNumber, SIG_DFL)
    raise(signalNumber)
}

private func installTemporaryCleanup() {
    temporaryLock.lock()
    defer { temporaryLock.unlock() }
    _ = temporarySlots  // initialized before any handler can read it
    guard !handlersInstalled else { return }
    handlersInstalled = true
    var unblock = sigset_t()
    sigemptyset(&unblock)
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal(sig) { removeTemporariesAndReraise($0) }
        sigaddset(&unblock, sig)
    }
    // A parent may have started tfc with these signals blocked; they must reach the handler.
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
}

private func registerTemporary(_ name: [CChar], option: String, path: String) throws -> Int {
    temporaryLock.lock()
    defer { temporaryLock.unlock() }
    guard let slot = (0..<temporarySlotCount).first(where: { temporarySlots[$0] == nil }) else {
        throw DriverError("error: \(option) \(path): too many files written at once")
    }
    temporarySlots[slot] = strdup(name)
    return slot
}

private func setTemporary(_ slot: Int, _ path: String) {
    temporaryLock.lock()
    defer { temporaryLock.unlock() }
    let old = temporarySlots[slot]
    temporarySlots[slot] = strdup(path)
    free(old)
}

private func unregisterTemporary(_ slot: Int) {
    temporaryLock.lock()
    defer { temporaryLock.unlock() }
    let old = temporarySlots[slot]
    temporarySlots[slot] = nil
    free(old)
}
