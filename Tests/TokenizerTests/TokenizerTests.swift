import Testing
@testable import TFCTokenizer
