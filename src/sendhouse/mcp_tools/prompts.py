"""The three MCP prompts of reference §12 (create-campaign, create-template, create-automation),
each with an optional `context` the user can fill in. They steer the assistant to the tools and
to the safety rules: drafts first, previews before anything is sent."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

CAMPAIGN = """Help me create an email campaign in Sendhouse.
1. Look around first: get_current_project, get_lists_and_segments, list_senders, list_templates,
   list_suppression_groups, list_contact_properties (merge tags such as {{first_name | "there"}}).
2. Agree on the audience (toLists or sendToGlobalList), the sender, subject (≤998 characters),
   preview text (≤200) and content (an existing templateId, or htmlTemplate written for me).
3. create_campaign makes a draft; show me the result with get_campaign.
4. Offer send_test_email to a few of my addresses; show the preview and send only after I agree.
5. Only if I ask to send: call send_campaign without confirmed, show me the preview (audience,
   subject, from, start time, problems), and call it with confirmed=true and the preview's
   confirmationToken only after I say yes.
Pausing, resuming or aborting is not possible here: that needs a direct API call with a key.
"""

TEMPLATE = """Help me create an email template in Sendhouse.
1. Ask what it is for (marketing, transactional or automation) and check list_templates for
   similar ones and list_contact_properties for the merge tags available.
2. Write clean, responsive HTML with inline-friendly styles, a plain-text version, a subject
   (≤988 characters) and preview text (≤140). Use {{var}} merge tags with fallbacks
   ({{first_name | "there"}}) and keep an {{unsubscribe}} link in marketing mail.
3. Show me the draft, then save it with create_template (templateType as agreed); change it
   later with update_template.
"""

AUTOMATION = """Help me build an email automation in Sendhouse.
1. Look around first: list_automations, list_event_definitions (event triggers and
   event.properties.* filters), get_lists_and_segments, list_senders, list_templates,
   list_suppression_groups (automations are marketing mail: pick an unsubscribe group).
2. Agree on the trigger (contact_created, contact_added_to_list, contact_property_matches_with,
   contact_property_changes_from_to or event_trigger), the steps and their delays. Every email
   step comes directly after a wait step (a wait of 0 sends at once); branches pick the first
   matching path.
3. For each email step write a template and save it with create_template and
   templateType "automation" (automation email steps need that type).
4. create_automation makes a draft; show it to me with get_automation and fix it with
   update_automation.
5. Only if I ask to start it: call activate_automation without confirmed, show me the preview
   (trigger, steps, what still blocks it), and call it with confirmed=true only after I say yes.
Pausing an automation is not possible here: that needs a direct API call with a key.
"""

PROMPTS = (
    ("create-campaign", "Plan, draft, test and (after confirmation) send an email campaign.", CAMPAIGN),
    ("create-template", "Design and save an email template.", TEMPLATE),
    ("create-automation", "Plan, draft and (after confirmation) activate an email automation.", AUTOMATION),
)


def _with_context(text: str, context: str | None) -> str:
    return f"{text}\nWhat I have in mind: {context}\n" if context else text


def register(server: MCPServer) -> None:
    for name, description, text in PROMPTS:
        _add(server, name, description, text)


def _add(server: MCPServer, name: str, description: str, text: str) -> None:
    @server.prompt(name=name, description=description)
    def prompt(context: str | None = None) -> str:
        return _with_context(text, context)
