using System.Net;
using AngleSharp.Html.Dom;
using AngleSharp.Html.Parser;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>Submits the portal's server-rendered forms the way a browser without JavaScript would.</summary>
public static class HtmlForms
{
    private static readonly HtmlParser Parser = new();

    public static IHtmlDocument Parse(string html) => Parser.ParseDocument(html);

    /// <summary>
    /// Loads <paramref name="pagePath"/>, finds the form whose action or Blazor form name matches
    /// <paramref name="form"/>, fills <paramref name="fields"/> over its current values and posts it.
    /// </summary>
    public static async Task<HttpResponseMessage> SubmitAsync(
        this HttpClient client, string pagePath, string form, IReadOnlyDictionary<string, string> fields)
    {
        var page = await client.GetAsync(pagePath);
        page.EnsureSuccessStatusCode();
        var document = Parse(await page.Content.ReadAsStringAsync());
        return await client.SubmitAsync(document, pagePath, form, fields);
    }

    public static async Task<HttpResponseMessage> SubmitAsync(
        this HttpClient client, IHtmlDocument document, string pagePath, string form, IReadOnlyDictionary<string, string> fields)
    {
        var element = document.Forms.FirstOrDefault(candidate =>
                candidate.GetAttribute("action") == form
                || candidate.QuerySelector($"input[name=_handler][value='{form}']") is not null)
            ?? throw new InvalidOperationException($"No form '{form}' on {pagePath}.");

        var values = new Dictionary<string, string>();
        foreach (var input in element.QuerySelectorAll("input[name]").OfType<IHtmlInputElement>())
        {
            if (input.Type is "checkbox" && !input.IsChecked)
            {
                continue;
            }

            values[input.Name!] = input.Value;
        }

        foreach (var (name, value) in fields)
        {
            values[name] = value;
        }

        var action = element.GetAttribute("action");
        var target = string.IsNullOrEmpty(action) ? pagePath : action;
        return await client.PostAsync(target, new FormUrlEncodedContent(values));
    }

    public static async Task<IHtmlDocument> ReadHtmlAsync(this HttpResponseMessage response) =>
        Parse(await response.Content.ReadAsStringAsync());

    public static string? Cookie(this CookieContainer cookies, Uri address, string name) =>
        cookies.GetCookies(address)[name]?.Value;

    /// <summary>The redirect target as path and query, whether the server sent it absolute or relative.</summary>
    public static string LocationPath(this HttpResponseMessage response)
    {
        var location = response.Headers.Location ?? throw new InvalidOperationException($"No Location header; status {(int)response.StatusCode}.");
        return location.IsAbsoluteUri ? location.PathAndQuery : location.OriginalString;
    }

    public static bool IsRedirect(this HttpResponseMessage response) =>
        (int)response.StatusCode is >= 300 and < 400;
}
