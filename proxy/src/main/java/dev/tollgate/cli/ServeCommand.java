package dev.tollgate.cli;

import dev.tollgate.proxy.TollgateNode;
import dev.tollgate.proxy.config.ConfigLoader;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.config.UpstreamConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tollgate serve}: runs the proxy until interrupted. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Run the metering proxy. Flags override the config file; --upstream alone runs an open "
                + "sidecar on loopback.")
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--config", paramLabel = "FILE", description = "YAML configuration file.")
    Path config;

    @Option(names = "--listen", paramLabel = "HOST:PORT", description = "Client-facing address (default 127.0.0.1:8080).")
    String listen;

    @Option(names = "--admin", paramLabel = "HOST:PORT", description = "Admin address (default 127.0.0.1:9090).")
    String admin;

    @Option(names = "--grpc", paramLabel = "HOST:PORT", description = "gRPC control address (default: off; without admin_token only a loopback address).")
    String grpc;

    @Option(names = "--upstream", paramLabel = "URL", description = "Upstream base URL, e.g. http://127.0.0.1:8000/v1 (repeatable).")
    List<String> upstreams = new ArrayList<>();

    @Option(names = "--data", paramLabel = "DIR", description = "Data directory (ledger, journal).")
    String data;

    @Override
    public Integer call() throws Exception {
        ProxyConfig cfg = config == null ? ProxyConfig.empty() : ConfigLoader.load(config);
        if (listen != null) {
            cfg = cfg.withListen(listen);
        }
        if (admin != null) {
            cfg = cfg.withAdmin(admin);
        }
        if (data != null) {
            cfg = cfg.withDataDir(data);
        }
        if (grpc != null) {
            cfg = cfg.withGrpc(grpc);
        }
        if (!upstreams.isEmpty()) {
            List<UpstreamConfig> ups = new ArrayList<>();
            for (String u : upstreams) {
                ups.add(UpstreamConfig.of(u));
            }
            cfg = cfg.withUpstreams(ups);
        }
        TollgateNode node = TollgateNode.start(cfg);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            node.close();
            stop.countDown();
        }, "tollgate-shutdown"));
        System.out.println("tollgate: proxy on " + node.baseUrl() + ", admin on " + node.adminUrl());
        if (node.backgroundThreads() != null && node.backgroundThreads().outcome().problem() != null) {
            System.out.println("tollgate: background threads: " + node.backgroundThreads().outcome().problem());
        }
        System.out.flush();
        stop.await();
        return 0;
    }
}
