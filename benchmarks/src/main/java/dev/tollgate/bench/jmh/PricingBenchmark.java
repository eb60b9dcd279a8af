package dev.tollgate.bench.jmh;

import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Price;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/** One release computed the exact way: cumulative cost, rounded once, minus what was paid, and its fee. */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class PricingBenchmark {
    private final Price price = Price.of("0.15", "0.60", "0.000001", "0.000002");
    private final Fees fees = Fees.PURPLE_FLEA;
    private long prompt;
    private long completion;
    private long requests;
    private long paid;
    private long feePaid;

    @Benchmark
    public long nextRelease() {
        prompt += 42;
        completion += 128;
        requests++;
        long target = price.microsFor(prompt, completion, requests, requests * 900);
        long release = target - paid;
        paid = target;
        long fee = fees.feeOn(target) - feePaid;
        feePaid += fee;
        if (prompt > 1_000_000_000L) {
            prompt = completion = requests = paid = feePaid = 0;
        }
        return release + fee;
    }
}
