package dev.tollgate.cli;

import dev.tollgate.proxy.config.HostPort;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.simulator.SimulatorServer;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tollgate simulate}: a vLLM-compatible upstream that generates deterministic text. */
@Command(name = "simulate", mixinStandardHelpOptions = true,
        description = "Run an OpenAI-compatible upstream that behaves like vLLM on the wire (deterministic output, "
                + "configurable timing, fault injection with the x-sim-fault header).")
final class SimulateCommand implements Callable<Integer> {
    @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:8000",
            description = "Address to listen on (default ${DEFAULT-VALUE}).")
    String listen;

    @Option(names = "--model", defaultValue = "tollgate-sim-1", description = "Model name served (default ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--ttft-ms", defaultValue = "0", description = "Time to first token in ms (default ${DEFAULT-VALUE}).")
    long ttftMillis;

    @Option(names = "--tokens-per-second", defaultValue = "0",
            description = "Generation rate; 0 = as fast as the client reads (default ${DEFAULT-VALUE}).")
    long tokensPerSecond;

    @Option(names = "--tokens-per-chunk", defaultValue = "1",
            description = "Tokens per SSE chunk, for RunPod-style bursts (default ${DEFAULT-VALUE}).")
    int tokensPerChunk;

    @Option(names = "--fault", paramLabel = "SPEC",
            description = "Fault for every request without an x-sim-fault header: status:503, error-after:K, "
                    + "reset-after:K, reset-before-headers, stall-after:K, stall-before-headers.")
    String fault;

    @Option(names = "--runpod", description = "Speak RunPod's native serverless API instead (/v2/<endpoint>/run, "
            + "/runsync, /status, /stream, /cancel, /retry, /health) with worker-vllm's output formats; faults per job "
            + "with the input's sim_fault (fail, fail-partial, timeout, hang, slow, expire, rate-limit:N, "
            + "submit-status:N) or for every job with --fault.")
    boolean runpod;

    @Option(names = "--runpod-api-key", paramLabel = "KEY",
            description = "With --runpod: the key clients must send (default: none checked).")
    String runpodApiKey;

    @Override
    public Integer call() throws Exception {
        HostPort hp = HostPort.parse(listen, "--listen");
        if (runpod) {
            var server = dev.tollgate.simulator.runpod.RunPodSimulator.start(hp.host(), hp.port(), runpodApiKey, model,
                    fault);
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                server.close();
                stop.countDown();
            }, "simulator-shutdown"));
            System.out.println("tollgate simulate --runpod: " + server.origin() + "/v2/<endpoint_id>/... (model "
                    + model + ")");
            System.out.flush();
            stop.await();
            return 0;
        }
        if (tokensPerChunk < 1 || ttftMillis < 0 || tokensPerSecond < 0) {
            throw new dev.tollgate.proxy.config.ConfigException(
                    "--tokens-per-chunk must be >= 1, --ttft-ms and --tokens-per-second >= 0");
        }
        SimulatorConfig cfg = SimulatorConfig.defaults().withHost(hp.host()).withPort(hp.port()).withModel(model)
                .withTtftMillis(ttftMillis).withTokensPerSecond(tokensPerSecond).withTokensPerChunk(tokensPerChunk)
                .withDefaultFault(fault);
        SimulatorServer server = SimulatorServer.start(cfg);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stop.countDown();
        }, "simulator-shutdown"));
        System.out.println("tollgate simulate: " + server.baseUrl() + " (model " + model + ")");
        System.out.flush();
        stop.await();
        return 0;
    }
}
