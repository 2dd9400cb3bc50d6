// Tests of the strict JSON reader and writer used for safetensors headers.

import Testing
import TIR
@testable import TIRFormats

private func parseError(_ text: String) -> JSONError? {
    do {
        _ = try JSONValue.parse(text)
        return nil
    } catch {
        return error
    }
}

@Suite("JSON reader and writer") struct JSONTests {
    @Test func jsonParsesEveryKindOfValueAndKeepsKeyOrder() throws {
        let value = try JSONValue.parse(#" { "z": [1, -2.5e3, true, false, null], "a": {"k": "v"}, "m": [] } "#)
        let object = try #require(value.objectValue)
        #expect(object.keys == ["z", "a", "m"])
        #expect(object["z"] == [1, .number("-2.5e3"), true, false, nil])
        #expect(object["a"] == ["k": "v"])
        #expect(object["m"] == .array([]))
        #expect(object["z"]?.arrayValue?[1].doubleValue == -2500)
    }

    @Test func jsonKeepsIntegersExact() throws {
        let value = try JSONValue.parse("[18446744073709551615, 18446744073709551616, 9007199254740993, -1, 1.0, 1e2]")
        let items = try #require(value.arrayValue)
        #expect(items[0].uint64Value == UInt64.max)
        #expect(items[1].uint64Value == nil)  // one past UInt64.max
        #expect(items[2].uint64Value == 9_007_199_254_740_993)  // not representable as a Double
        #expect(items[3].uint64Value == nil)
        #expect(items[3].intValue == -1)
        #expect(items[4].uint64Value == nil)
        #expect(items[5].uint64Value == nil)
    }

    @Test func jsonDecodesEscapesAndUTF8() throws {
        let value = try JSONValue.parse(#"["a\"b\\c\/d\b\f\n\r\t", "\u00e9\u4E2D", "\ud83d\ude00", "é中😀"]"#)
        #expect(value == ["a\"b\\c/d\u{08}\u{0C}\n\r\t", "é中", "😀", "é中😀"])
    }

    @Test(arguments: [
        ("", 0, "expected a value, found end of input"),
        ("{\"a\": 1 \"b\": 2}", 8, "expected ',' or '}'"),
        ("[1, 2", 5, "expected ',' or ']'"),
        ("[1,]", 3, "expected a value, found ']'"),
        ("{\"a\" 1}", 5, "expected ':' after an object key, found '1'"),
        ("{1: 2}", 1, "expected a string key, found '1'"),
        ("{\"a\": 1, \"a\": 2}", 9, "duplicate key \"a\""),
        ("[01]", 2, "expected ',' or ']'"),
        ("[1.]", 3, "expected a digit after '.', found ']'"),
        ("[-]", 2, "expected a digit, found ']'"),
        ("[1e+]", 4, "expected a digit in the exponent, found ']'"),
        ("tru", 0, "invalid literal (expected 'true')"),
        ("\"abc", 4, "unterminated string"),
        ("\"a\tb\"", 2, "unescaped control character in string"),
        ("\"\\x\"", 1, "invalid escape '\\x'"),
        ("\"\\u12G4\"", 5, "expected 4 hex digits after \\u"),
        ("\"\\ud800\"", 1, "unpaired surrogate \\uD800"),
        ("\"\\ud800\\u0041\"", 1, "unpaired surrogate \\uD800"),
        ("\"\\udc00\"", 1, "unpaired surrogate \\uDC00"),
        ("{} x", 3, "unexpected 'x' after the JSON value"),
        ("'a'", 0, "not JSON: the text does not start with a JSON value"),
        ("private key\n", 0, "not JSON: the text does not start with a JSON value"),
        ("[1, 'a']", 4, "expected a value, found '''"),
    ])
    func jsonReportsErrorsWithByteOffsets(input: String, offset: Int, message: String) {
        #expect(parseError(input) == JSONError(offset: offset, message))
    }

    @Test func jsonRejectsInvalidUTF8() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
                               [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22]] {
            #expect(throws: JSONError(offset: 1, "invalid UTF-8")) { try JSONValue.parse(bytes) }
        }
    }

    @Test func jsonLimitsNestingDepth() throws {
        let ok = String(repeating: "[", count: JSONValue.maxDepth) + String(repeating: "]", count: JSONValue.maxDepth)
        _ = try JSONValue.parse(ok)
        let tooDeep = String(repeating: "[", count: JSONValue.maxDepth + 1) + String(repeating: "]", count: JSONValue.maxDepth + 1)
        #expect(parseError(tooDeep) == JSONError(offset: JSONValue.maxDepth, "nesting deeper than 64 levels"))
        // Hostile input: must fail cleanly, not overflow the stack.
        #expect(parseError(String(repeating: "{\"a\":", count: 1_000_000))?.message == "nesting deeper than 64 levels")
    }

    @Test func jsonWriterIsCompactAndRoundTrips() throws {
        let value: JSONValue = [
            "b": [1, 2, ["x": nil]],
            "a": "quote \" backslash \\ newline \n tab \t bell \u{07} é 😀",
            "t": true,
        ]
        let text = value.serialized()
        #expect(text == #"{"b":[1,2,{"x":null}],"a":"quote \" backslash \\ newline \n tab \t bell \u0007 é 😀","t":true}"#)
        #expect(try JSONValue.parse(text) == value)
    }
}
