// Not for Unity. Compile check of ../unity/SignightBehaviour.cs without Unity:
//   mcs -target:library -langversion:7 -out:Behaviour.dll ../unity/SignightClient.cs \
//       UnityEngineStub.cs ../unity/SignightBehaviour.cs
// Hand-written stand-ins for the UnityEngine members SignightBehaviour.cs uses: a syntax and
// SignightClient-API check only, not a check against Unity.
namespace UnityEngine {
  public struct Vector3 { public float x, y, z; public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; } }
  public struct Quaternion { public float x, y, z, w; public Quaternion(float x, float y, float z, float w) { this.x = x; this.y = y; this.z = z; this.w = w; } }
  public class Object { public static void Destroy(Object o) { } public static T Instantiate<T>(T o) where T : Object { return o; } }
  public class Component : Object { public Transform transform; }
  public class Transform : Component { public Vector3 position; public Quaternion rotation; public void SetPositionAndRotation(Vector3 p, Quaternion q) { } }
  public class Behaviour : Component { }
  public class MonoBehaviour : Behaviour { }
  public class GameObject : Object { public Transform transform; }
  public static class Debug { public static void Log(object m) { } public static void LogWarning(object m) { } }
}
