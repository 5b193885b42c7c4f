using System.Security.Cryptography;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using BenchmarkDotNet.Attributes;

namespace AccountsPortal.Benchmarks;

/// <summary>Turning recovery keys into words and reading them back, as sign-up and recovery do.</summary>
[MemoryDiagnoser]
public class RecoveryKeyBenchmarks
{
    private readonly byte[] key = RandomNumberGenerator.GetBytes(RecoveryKeyCodec.KeyLength);
    private string words = "";

    [GlobalSetup]
    public void Setup() => words = string.Join(' ', RecoveryKeyCodec.ToWords(key));

    [Benchmark]
    public string[] ToWords() => RecoveryKeyCodec.ToWords(key);

    [Benchmark]
    public RecoveryKeyParseResult Parse() => RecoveryKeyCodec.Parse(words);
}
