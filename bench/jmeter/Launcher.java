// Starts Debian's JMeter 2.13 with its XStream instances opened to the types that
// test plans and result files use. Debian 12's XStream (1.4.20) only deserialises
// allow-listed classes and JMeter 2.13 sets no allow-list, so plain `jmeter -n -t`
// fails on every plan with ForbiddenClassException (and still exits 0).
//
//   java -cp /usr/share/jmeter/bin/ApacheJMeter.jar:DIR -Djmeter.home=/usr/share/jmeter \
//        Launcher -n -t plan.jmx ...
import java.lang.reflect.Field;
import java.lang.reflect.Method;

public class Launcher {
    public static void main(String[] args) throws Exception {
        // NewDriver's static initialiser builds the class loader over lib/ and lib/ext/.
        Class<?> driver = Class.forName("org.apache.jmeter.NewDriver");
        Field lf = driver.getDeclaredField("loader");
        lf.setAccessible(true);
        ClassLoader loader = (ClassLoader) lf.get(null);
        Thread.currentThread().setContextClassLoader(loader);
        // SaveService's static initialiser reads $jmeter.home/bin/saveservice.properties.
        String home = System.getProperty("jmeter.home", "/usr/share/jmeter");
        Class.forName("org.apache.jmeter.util.JMeterUtils", true, loader)
                .getMethod("setJMeterHome", String.class).invoke(null, home);
        Class<?> save = Class.forName("org.apache.jmeter.save.SaveService", true, loader);
        Class<?> permType = Class.forName("com.thoughtworks.xstream.security.TypePermission", true, loader);
        Object any = Class.forName("com.thoughtworks.xstream.security.AnyTypePermission", true, loader)
                .getField("ANY").get(null);
        for (String name : new String[] {"JMXSAVER", "JTLSAVER"}) {
            Field f = save.getDeclaredField(name);
            f.setAccessible(true);
            Object xstream = f.get(null);
            Method add = xstream.getClass().getMethod("addPermission", permType);
            add.invoke(xstream, any);  // plans and results are local files written by us
        }
        driver.getMethod("main", String[].class).invoke(null, (Object) args);
    }
}
