// UNTESTED in Unity: there is no Unity on the machine that wrote it. It was compiled only against a
// hand-written stub of the few UnityEngine members it uses (docs/clients.md), never run.
// A MonoBehaviour that drives SignightClient.cs (compile-checked on its own: docs/clients.md).
// Attach it to an object; `player` is the local player's transform, `avatarPrefab` what remote
// players look like.
//
// Axes: the protocol says nothing about handedness. This sample sends Unity's coordinates as they
// are (left-handed, Y up); every client of one game must agree on one convention.

using System.Collections.Generic;
using UnityEngine;
using Signight;

public class SignightBehaviour : MonoBehaviour
{
    public string url = "ws://localhost:8080/ws/";
    public string roomId = "lobby";
    public string playerName = "Ada";
    public Transform player;
    public GameObject avatarPrefab;

    SignightClient client;
    readonly Dictionary<string, GameObject> avatars = new Dictionary<string, GameObject>();

    void Start()
    {
        client = new SignightClient(new System.Uri(url), playerName, "#FF0000");
        // With WS_AUTH_REQUIRED: client.Token = accessToken; client.GetToken = RefreshAccessTokenAsync;
        client.StatusChanged += (status, code, action) => Debug.Log($"signight {status} {code} {action}");
        client.Welcome += frame => RebuildAvatars();
        client.Resumed += frame => RebuildAvatars();
        client.PlayerJoined += frame => Spawn((string)frame["client_id"]);
        client.PlayerLeft += frame => Despawn((string)frame["client_id"]);
        client.Chat += frame => Debug.Log($"{frame["name"]}: {frame["message"]}");
        client.Error += frame => Debug.LogWarning($"signight error {frame["code"]}: {frame["message"]}");
        // A gap means an event was possibly missed: Join again for a fresh Welcome (others see leave+join).
        client.Gap += (expected, got) => client.Join(roomId, StateOf(player));
        client.Join(roomId, StateOf(player));
    }

    void Update()
    {
        client.Poll();                         // events fire here, on the main thread
        client.Update(StateOf(player));        // coalesced to the server's tick

        double now = client.ServerNowMs();
        foreach (var pair in avatars)
        {
            double[] p, r;
            if (!client.Interpolator.Sample(pair.Key, now, out p, out r)) continue;
            pair.Value.transform.SetPositionAndRotation(
                new Vector3((float)p[0], (float)p[1], (float)p[2]),
                new Quaternion((float)r[1], (float)r[2], (float)r[3], (float)r[0])); // wire is [w, x, y, z]
        }
    }

    public async void Say(string text)
    {
        try { await client.SendChat(text); }   // completes once stored and delivered
        catch (SignightException error) { Debug.LogWarning($"chat refused: {error.Code}"); }
    }

    void OnApplicationQuit() { client.Close(); } // 1000: the others see the player leave at once

    static Dictionary<string, object> StateOf(Transform t)
    {
        Vector3 p = t.position;
        Quaternion q = t.rotation;
        return SignightClient.PlayerState(new double[] { p.x, p.y, p.z }, new double[] { q.w, q.x, q.y, q.z });
    }

    void RebuildAvatars()
    {
        foreach (var avatar in avatars.Values) Destroy(avatar);
        avatars.Clear();
        foreach (var id in client.Players.Keys) Spawn(id);
    }

    void Spawn(string id)
    {
        if (id == client.ClientId || avatars.ContainsKey(id)) return;
        avatars[id] = Instantiate(avatarPrefab);
    }

    void Despawn(string id)
    {
        GameObject avatar;
        if (avatars.TryGetValue(id, out avatar)) { Destroy(avatar); avatars.Remove(id); }
    }
}
