// Java client 4.9.4: asynchronous sends with a bounded number in flight (issue 11's
// "Java client async fill"). Prints one line: acknowledged sends per second.
//   java -cp <lib/*>:. AsyncFill NAMESRV TOPIC COUNT IN_FLIGHT BODY_BYTES
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.message.Message;

public class AsyncFill {
    public static void main(String[] args) throws Exception {
        String namesrv = args[0];
        String topic = args[1];
        int count = Integer.parseInt(args[2]);
        int inFlight = Integer.parseInt(args[3]);
        byte[] body = new byte[Integer.parseInt(args[4])];
        java.util.Arrays.fill(body, (byte) 'x');

        DefaultMQProducer producer = new DefaultMQProducer("async_fill_pg");
        producer.setNamesrvAddr(namesrv);
        producer.setSendMsgTimeout(30000);
        producer.start();
        // One synchronous send first: routes, connections and the topic exist before timing.
        producer.send(new Message(topic, "warm", body));

        Semaphore window = new Semaphore(inFlight);
        CountDownLatch done = new CountDownLatch(count);
        AtomicLong failed = new AtomicLong();
        SendCallback callback = new SendCallback() {
            public void onSuccess(SendResult result) { window.release(); done.countDown(); }
            public void onException(Throwable e) { failed.incrementAndGet(); window.release(); done.countDown(); }
        };
        long start = System.nanoTime();
        for (int i = 0; i < count; i++) {
            window.acquire();
            producer.send(new Message(topic, "fill", body), callback);
        }
        done.await();
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("async fill: %d sends, %d failed, %.2f s, %.0f acks/s%n",
            count, failed.get(), seconds, (count - failed.get()) / seconds);
        producer.shutdown();
    }
}
