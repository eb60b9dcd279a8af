package dev.tollgate.simulator;

/**
 * How the simulator behaves.
 *
 * @param host            address to bind
 * @param port            port to bind; 0 picks a free one
 * @param model           the one model served
 * @param ttftMillis      delay before the first chunk (prefill)
 * @param tokensPerSecond generation rate per stream; 0 = as fast as the client reads
 * @param tokensPerChunk  tokens per SSE chunk (1 like vLLM; more imitates merged outputs or RunPod bursts)
 * @param defaultFault    fault for requests without an {@code x-sim-fault} header (see {@link FaultPlan}), or null
 */
public record SimulatorConfig(String host, int port, String model, long ttftMillis, long tokensPerSecond,
                              int tokensPerChunk, String defaultFault) {

    public static SimulatorConfig defaults() {
        return new SimulatorConfig("127.0.0.1", 0, "tollgate-sim-1", 0, 0, 1, null);
    }

    public SimulatorConfig withHost(String v) {
        return new SimulatorConfig(v, port, model, ttftMillis, tokensPerSecond, tokensPerChunk, defaultFault);
    }

    public SimulatorConfig withPort(int v) {
        return new SimulatorConfig(host, v, model, ttftMillis, tokensPerSecond, tokensPerChunk, defaultFault);
    }

    public SimulatorConfig withModel(String v) {
        return new SimulatorConfig(host, port, v, ttftMillis, tokensPerSecond, tokensPerChunk, defaultFault);
    }

    public SimulatorConfig withTtftMillis(long v) {
        return new SimulatorConfig(host, port, model, v, tokensPerSecond, tokensPerChunk, defaultFault);
    }

    public SimulatorConfig withTokensPerSecond(long v) {
        return new SimulatorConfig(host, port, model, ttftMillis, v, tokensPerChunk, defaultFault);
    }

    public SimulatorConfig withTokensPerChunk(int v) {
        return new SimulatorConfig(host, port, model, ttftMillis, tokensPerSecond, v, defaultFault);
    }

    public SimulatorConfig withDefaultFault(String v) {
        return new SimulatorConfig(host, port, model, ttftMillis, tokensPerSecond, tokensPerChunk, v);
    }
}
