package dev.tollgate.proxy.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.testing.Await;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The upstream connection pool: one pooled connection reused many times, and one the upstream closes. */
class UpstreamConnectorTest {

    @Test
    void reusingAPooledConnectionAddsNoListenersAndAClosedOneLeavesThePool() throws Exception {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        List<Socket> accepted = new ArrayList<>();
        try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            Thread acceptor = new Thread(() -> {
                try {
                    while (true) {
                        Socket s = server.accept();
                        synchronized (accepted) {
                            accepted.add(s);
                        }
                    }
                } catch (Exception e) {
                    // the server socket closed
                }
            }, "accept");
            acceptor.setDaemon(true);
            acceptor.start();
            Upstream upstream = new Upstream(new UpstreamConfig("u", "http://127.0.0.1:" + server.getLocalPort()
                    + "/v1", null, null, true, "w"));
            UpstreamConnector connector = new UpstreamConnector(2000, 60_000, null);
            EventLoop loop = group.next();

            Channel first = acquire(connector, upstream, loop);
            int listenersAtStart = onLoop(loop, () -> closeListeners(first));
            for (int i = 0; i < 10_000; i++) {
                onLoop(loop, () -> {
                    connector.release(upstream, first);
                    return null;
                });
                assertSame(first, acquire(connector, upstream, loop), "reuse " + i);
            }
            assertEquals(listenersAtStart, (int) onLoop(loop, () -> closeListeners(first)),
                    "listeners on the connection's close future after 10,000 reuses");
            onLoop(loop, () -> {
                connector.release(upstream, first);
                return null;
            });
            assertEquals(1, (int) onLoop(loop, () -> connector.idleConnections(upstream)));

            // The upstream closes the idle connection: it leaves the pool, the next acquire opens a new one.
            synchronized (accepted) {
                assertEquals(1, accepted.size(), "one connection for all the reuses");
                accepted.get(0).close();
            }
            Await.until(() -> onLoop(loop, () -> connector.idleConnections(upstream)) == 0, Duration.ofSeconds(5),
                    "the closed connection to leave the pool");
            Channel second = acquire(connector, upstream, loop);
            assertNotSame(first, second);
            second.close().sync();
        } finally {
            synchronized (accepted) {
                for (Socket s : accepted) {
                    s.close();
                }
            }
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    private static Channel acquire(UpstreamConnector connector, Upstream upstream, EventLoop loop) throws Exception {
        return onLoop(loop, () -> connector.acquire(upstream, loop)).get(5, TimeUnit.SECONDS);
    }

    private static <T> T onLoop(EventLoop loop, Callable<T> task) {
        try {
            return loop.submit(task).get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Listeners registered on a channel's close future (read from Netty's DefaultPromise: white-box). */
    private static int closeListeners(Channel ch) throws Exception {
        Object future = ch.closeFuture();
        Class<?> c = future.getClass();
        while (!c.getSimpleName().equals("DefaultPromise")) {
            c = c.getSuperclass();
        }
        Field single = c.getDeclaredField("listener");
        Field many = c.getDeclaredField("listeners");
        single.setAccessible(true);
        many.setAccessible(true);
        int n = single.get(future) == null ? 0 : 1;
        Object list = many.get(future);
        if (list != null) {
            Method size = list.getClass().getDeclaredMethod("size");
            size.setAccessible(true);
            n += (int) size.invoke(list);
        }
        return n;
    }
}
