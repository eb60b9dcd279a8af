package dev.tollgate.proxy.control;

import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.proxy.config.ConfigException;
import dev.tollgate.proxy.config.ConfigLoader;
import dev.tollgate.proxy.config.HostPort;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * The gRPC control service ({@code tollgate.v1.Control}, see {@code control.proto}) on its own port, behind the
 * admin token. It runs only when an address is configured, and without an admin token only on a loopback
 * address.
 *
 * <p>Threading: {@link #start} and {@link #close} from the controlling thread.
 */
public final class ControlServer implements AutoCloseable {
    private final Server server;

    private ControlServer(Server server) {
        this.server = server;
    }

    public static ControlServer start(HostPort address, SettlementService settlement, UsageFeed feed,
                                      String adminToken) throws IOException {
        if ((adminToken == null || adminToken.isEmpty()) && !ConfigLoader.isLoopback(address.host())) {
            // Without the token anyone who reaches the port could submit quality scores (bonuses).
            throw new ConfigException("grpc: " + address + " is not a loopback address and admin_token is not set;"
                    + " set admin_token or bind gRPC to 127.0.0.1");
        }
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(address.host(), address.port()))
                .addService(ServerInterceptors.intercept(new ControlService(settlement, feed),
                        new AdminTokenInterceptor(adminToken)))
                .build()
                .start();
        return new ControlServer(server);
    }

    public int port() {
        return server.getPort();
    }

    @Override
    public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(2, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
