from tests.integration.api import Api, error_codes, token_for

STYLES = "query($category: String) { photoshootStyles(category: $category) { id name category } }"


async def test_the_catalogue_is_listed_and_filtered(api: Api) -> None:
    everything = await api.graphql(STYLES, token=token_for("alice"))
    evening = await api.graphql(STYLES, token=token_for("alice"), variables={"category": "Evening"})
    nothing = await api.graphql(STYLES, token=token_for("alice"), variables={"category": "space"})

    styles = everything["data"]["photoshootStyles"]
    assert len(styles) >= 12
    assert {"editorial", "business", "lifestyle", "evening", "outdoors"} <= {
        style["category"] for style in styles
    }
    assert evening["data"]["photoshootStyles"]
    assert {style["category"] for style in evening["data"]["photoshootStyles"]} == {"evening"}
    assert nothing["data"]["photoshootStyles"] == []


async def test_the_catalogue_needs_a_signed_in_user(api: Api) -> None:
    assert error_codes(await api.graphql(STYLES)) == ["UNAUTHENTICATED"]
