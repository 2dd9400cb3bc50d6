// The BPE model proper: one word's bytes in, token ids out, by applying merges in rank order.

/// The merges and the ids of single bytes, in the form the merge loop wants: ids, not text.
struct BytePairModel: Sendable {
    /// The id of the token for each single byte (the character that stands for it), or -1 when
    /// the vocabulary lacks it.
    let byteIDs: [Int32]
    /// (left id, right id) packed as `left << 32 | right`  ->  the merge's rank and the id of the
    /// merged token, packed as `rank << 32 | id`.
    let merges: [UInt64: UInt64]
    /// What stands for a byte that has no token: nil drops the byte, as Hugging Face does
    /// without an `unk_token`.
    let unknownID: Int32?
    /// Whether consecutive unknown bytes become one unknown token (`fuse_unk`).
    let fuseUnknown: Bool
    /// With `ignore_merges`, words that are a token of their own, by their bytes: such a word is
    /// that token, whatever the merges would make of it.
    let wholeWordIDs: [[UInt8]: Int32]?

    @inline(__always)
    private func merge(_ left: Int32, _ right: Int32) -> (rank: UInt32, id: Int32)? {
        guard let packed = merges[UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))] else {
            return nil
        }
        return (UInt32(truncatingIfNeeded: packed >> 32), Int32(truncatingIfNeeded: packed))
    }

    /// Appends the ids of one word's tokens to `ids`.
    func tokenize(_ word: UnsafeBufferPointer<UInt8>, into ids: inout [Int32]) {
        if let wholeWordIDs, let id = wholeWordIDs[Array(word)] {
            ids.append(id)
            return
        }
        var symbols = initialSymbols(word)
        mergeAll(&symbols)
        ids.append(contentsOf: symbols)
    }

    /// One symbol per byte; bytes without a token become the unknown token or nothing.
    private func initialSymbols(_ word: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        var previousWasUnknown = false
        for byte in word {
            let id = byteIDs[Int(byte)]
            if id >= 0 {
                symbols.append(id)
                previousWasUnknown = false
            } else if let unknownID {
                if !(fuseUnknown && previousWasUnknown) { symbols.append(unknownID) }
                previousWasUnknown = true
            }
        }
        return symbols
    }

    /// Merges adjacent symbols until no adjacent pair has a merge: always the pair of lowest
    /// rank, the leftmost one among equals. A heap of candidate pairs keeps this
    /// O(n log n), so that a long word (a page of CJK text has no spaces) costs no more than
    /// its length; symbols form a linked list so that a merge is O(1).
    private func mergeAll(_ symbols: inout [Int32]) {
        let count = symbols.count
        guard count > 1 else { return }
        var next = [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = i + 1 < count ? Int32(i + 1) : -1 }
            initialized = count
        }
        var previous = [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = Int32(i - 1) }
            initialized = count
        }
        var alive = [Bool](repeating: true, count: count)
        var queue = MergeQueue()
        for i in 0..<(count - 1) {
            if let (rank, id) = merge(symbols[i], symbols[i + 1]) {
                queue.push(MergeCandidate(rank: rank, position: Int32(i), id: id))
            }
        }
        while let candidate = queue.pop() {
            let position = Int(candidate.position)
            // Skip candidates that earlier merges made stale: the left symbol was absorbed,
            // or it or its right neighbour changed.
            guard alive[position], next[position] >= 0 else { continue }
            let right = Int(next[position])
            guard let current = merge(symbols[position], symbols[right]), current.id == candidate.id else { continue }
            symbols[position] = candidate.id
            alive[right] = false
            next[position] = next[right]
            if next[right] >= 0 { previous[Int(next[right])] = Int32(position) }
            if previous[position] >= 0 {
                let left = Int(previous[position])
                if let (rank, id) = merge(symbols[left], symbols[position]) {
                    queue.push(MergeCandidate(rank: rank, position: Int32(left), id: id))
                }
            }
            if next[position] >= 0, let (rank, id) = merge(symbols[position], symbols[Int(next[position])]) {
                queue.push(MergeCandidate(rank: rank, position: Int32(position), id: id))
            }
        }
        var kept = 0
        for i in 0..<count where alive[i] {
            symbols[kept] = symbols[i]
            kept += 1
        }
        symbols.removeLast(count - kept)
    }
}

/// A pair that may merge: the rank of its merge, where its left symbol is, and what it becomes.
struct MergeCandidate {
    var rank: UInt32
    var position: Int32
    var id: Int32

    /// Lower rank first, then further left.
    @inline(__always)
    func precedes(_ other: MergeCandidate) -> Bool {
        rank != other.rank ? rank < other.rank : position < other.position
    }
}

/// A binary min-heap of merge candidates.
struct MergeQueue {
    private var items: [MergeCandidate] = []

    mutating func push(_ item: MergeCandidate) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < items.count else { break }
            var smallest = left
            if left + 1 < items.count, items[left + 1].precedes(items[left]) { smallest = left + 1 }
            guard items[smallest].precedes(items[parent]) else { break }
            items.swapAt(smallest, parent)
            parent = smallest
        }
        return top
    }
}
