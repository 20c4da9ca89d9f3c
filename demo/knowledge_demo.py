"""Demo knowledge base: about twenty articles the Aldermoor Group's people actually need
(VPN, passwords, MFA, Outlook, printers, Wi-Fi, docking stations, store tills…) in
several categories, a few staff-only runbooks, one version waiting for review, one retired
article, one overdue for its review, a published article with a new draft, and readers'
feedback. Written by the service desk and a resolver, reviewed and published by the
knowledge manager (four eyes), through the services. Idempotent: articles are found by
title."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone

from knowledge import services
from knowledge.models import Article, Category

User = get_user_model()

CATEGORIES: tuple[tuple[str, str, str | None, str], ...] = (
    ("accounts", "Accounts & passwords", None, "Signing in, passwords and multi-factor."),
    ("remote", "Remote working", None, "VPN, Wi-Fi and working away from the office."),
    ("email", "Email & calendar", None, "Outlook, shared mailboxes, Teams meetings."),
    ("printing", "Printing", None, "Office printers, scanning and label printers."),
    ("devices", "Laptops & desktops", None, "Your computer, docking stations, screens."),
    ("stores", "Stores", None, "Help for store colleagues."),
    ("tills", "Tills & point of sale", "stores", "The store tills, card terminals, "
                                                  "receipt printers."),
    ("mobile", "Phones & tablets", None, "Company phones, handhelds and tablets."),
    ("runbooks", "Service desk runbooks", None, "How the desk handles recurring work."),
)

# title, category, audience, keywords, summary, body, author ("agent" / "resolver")
ARTICLES: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("Reset your password", "accounts", "everyone", "forgotten password, locked out, expired",
     "Reset a forgotten or expired password yourself in two minutes, from any device.",
     "## Before you start\n\nYou need the phone you registered for multi-factor "
     "authentication.\n\n## Steps\n\n1. Go to **https://passwordreset.aldermoor.example**\n"
     "2. Enter your work email address and complete the check\n3. Approve the prompt on "
     "your phone\n4. Choose a new password: at least 14 characters, not one of your last "
     "ten\n\n## After the reset\n\n- Sign out and back in on your laptop while connected to "
     "the office network or the VPN, so Windows learns the new password\n- Update the "
     "password on your phone's mail app when it asks\n\nStill locked out after 15 minutes? "
     "Call the service desk on +44 20 7946 0100.", "agent"),
    ("Set up multi-factor authentication (MFA) on a new phone", "accounts", "everyone",
     "authenticator, new phone, 2FA, MFA",
     "Move Microsoft Authenticator to a new phone before you wipe the old one.",
     "## If you still have the old phone\n\n1. Install Microsoft Authenticator on the new "
     "phone\n2. On a computer, open **https://mysignins.microsoft.com/security-info**\n"
     "3. Choose **Add sign-in method → Authenticator app** and scan the QR code with the "
     "new phone\n4. Make the new phone the default method, then delete the old one\n\n"
     "## If the old phone is lost\n\nCall the service desk: after checking who you are we "
     "issue a temporary access pass valid for one hour.", "agent"),
    ("Your account is locked after too many attempts", "accounts", "everyone",
     "locked account, lockout, wrong password",
     "Accounts unlock by themselves after 15 minutes; here is how to find what keeps "
     "locking it.",
     "An account locks after 10 wrong passwords in 15 minutes and unlocks by itself 15 "
     "minutes later.\n\nIf it keeps locking, an old password is saved somewhere:\n\n- the "
     "mail app on your phone or tablet\n- a mapped drive on your laptop (Credential "
     "Manager)\n- Wi-Fi on a second device\n\nUpdate or remove the saved password, then "
     "wait 15 minutes.", "agent"),
    ("Connect to the VPN from home", "remote", "everyone", "remote access, GlobalProtect, "
     "working from home",
     "Use GlobalProtect to reach internal systems (Payroll, the intranet, shared drives) "
     "from outside the office.",
     "## Connect\n\n1. Click the GlobalProtect globe in the system tray\n2. The portal is "
     "**vpn.aldermoor.example** (already filled in on company laptops)\n3. Sign in with "
     "your work account and approve the MFA prompt\n\n## If it will not connect\n\n- Check "
     "you are online: open any public website\n- Hotel and café networks: open the browser "
     "first and accept the network's terms\n- *Gateway unreachable*: choose **London-2** "
     "under Gateways\n- Still failing: restart the laptop, then try again before calling "
     "the desk", "agent"),
    ("Connect to the office Wi-Fi", "remote", "everyone", "wireless, wifi, Aldermoor-Staff, "
     "guest wifi",
     "Company laptops join Aldermoor-Staff by themselves; guests use Aldermoor-Guest.",
     "## Company laptops and phones\n\n**Aldermoor-Staff** connects automatically with your "
     "device certificate. If it asks for a password, the certificate has expired: connect "
     "by cable or VPN once, restart, and it renews.\n\n## Visitors\n\nConnect to "
     "**Aldermoor-Guest** and enter the code from reception. Codes last 24 hours.\n\n"
     "## Personal phones\n\nUse Aldermoor-Guest. Personal devices are not allowed on "
     "Aldermoor-Staff.", "agent"),
    ("Outlook keeps asking for your password", "email", "everyone", "credential prompt, "
     "Outlook password loop",
     "A password prompt that keeps coming back is almost always a stale saved credential.",
     "1. Close Outlook\n2. Open **Credential Manager** from the Start menu → Windows "
     "Credentials\n3. Remove every entry that starts with *MicrosoftOffice* or mentions "
     "*outlook.office365.com*\n4. Start Outlook and sign in once, approving the MFA "
     "prompt\n\nIf the prompt says the password is wrong, reset it first: see *Reset your "
     "password*.", "agent"),
    ("Open a shared mailbox in Outlook", "email", "everyone", "shared mailbox, team inbox, "
     "delegate",
     "Shared mailboxes appear by themselves within an hour of access being granted.",
     "Once your manager's request is approved, the mailbox appears in Outlook's folder "
     "list within 60 minutes (restart Outlook to hurry it).\n\nIn **Outlook on the web**: "
     "click your picture → *Open another mailbox* and type the mailbox name.\n\nTo send as "
     "the mailbox, choose it in the **From** field (show it with *Options → From*).",
     "agent"),
    ("Outlook search shows no results", "email", "everyone", "search index, Outlook search "
     "broken",
     "Rebuild the Windows search index when Outlook search finds nothing or old mail only.",
     "1. Close Outlook\n2. Open **Indexing Options** from the Start menu\n3. Choose "
     "*Advanced → Rebuild*\n4. Leave the laptop on and plugged in: rebuilding takes up to "
     "an hour\n\nUntil then, search in Outlook on the web, which does not use the index.",
     "agent"),
    ("A printer shows as offline", "printing", "everyone", "printer offline, cannot print, "
     "follow-me printing",
     "Most offline printers are a paused queue or a sleeping device; here is the order to "
     "check.",
     "1. Wake the printer: press any button on its panel\n2. On your laptop, open *Settings "
     "→ Printers*, pick the printer and make sure **Use printer offline** is not ticked\n"
     "3. Remove the printer and add **FollowMe-Print** again from *Add a printer*\n4. "
     "Release your job at any office printer with your badge\n\nIf the printer's panel "
     "shows an error code, report it with the code and the printer's asset tag.",
     "agent"),
    ("Scan a document to your email", "printing", "everyone", "scan to email, scanner",
     "Scan at any office printer and the PDF arrives in your inbox.",
     "1. Badge in at the printer\n2. Choose **Scan to me**\n3. Place the pages face up in "
     "the feeder (or face down on the glass)\n4. Press **Start**\n\nThe PDF arrives from "
     "*scanner@aldermoor.example* within two minutes. Large scans are split into files of "
     "10 MB.", "agent"),
    ("Laptop does not detect the docking station or screens", "devices", "everyone",
     "dock, docking station, monitor, external screen, USB-C",
     "Reseat the USB-C cable, update the dock firmware, and check the power supply.",
     "## Quick checks\n\n1. Unplug the USB-C cable from the laptop, wait 10 seconds, plug "
     "it back in\n2. Check the dock's power light is on (the dock needs its own power "
     "supply)\n3. Restart the laptop while it is docked\n\n## Screens stay black\n\n- Press "
     "**Windows + P** and choose *Extend*\n- Open *Settings → Display* and click *Detect*\n"
     "- Install updates from **Company Portal → Dock firmware**\n\nStill nothing? Report "
     "it with the dock's asset tag (under the dock).", "resolver"),
    ("Your laptop is slow to start", "devices", "everyone", "slow laptop, performance",
     "Restart at least weekly, let updates finish and keep 20 GB free.",
     "- Restart (not just close the lid) at least once a week: updates finish on restart\n"
     "- Keep at least 20 GB free on C:: empty Downloads and the Recycle Bin\n- Check "
     "**Company Portal** for pending installs\n\nIf it is still slow, report it: we can "
     "check the disk health remotely.", "resolver"),
    ("Till will not print receipts", "tills", "everyone", "receipt printer, POS, till, "
     "thermal paper",
     "Check the paper roll and the receipt printer's cable, then restart the till client.",
     "## At the till\n\n1. Open the printer lid and check the roll: thermal paper prints "
     "on one side only, shiny side towards the print head\n2. Close the lid firmly until "
     "it clicks\n3. Reseat the printer's USB cable at the back of the till\n4. From the "
     "till menu choose **Manager → Restart till client**\n\n## Keep trading\n\nOffer "
     "email receipts (*Receipt → Email*) while you wait. If more than one till is "
     "affected, call the desk: it may be a store-wide problem.", "agent"),
    ("Card terminal shows 'Not connected'", "tills", "everyone", "PDQ, card machine, "
     "payment terminal, chip and pin",
     "Restart the card terminal and check its network cable; take cash or use another "
     "till meanwhile.",
     "1. Hold the terminal's red button for 5 seconds to restart it\n2. Check the network "
     "cable in the terminal's base\n3. Wait 2 minutes for it to reconnect\n\nIf every "
     "terminal in the store shows *Not connected*, the store's line may be down: call the "
     "desk and mention your store number.", "agent"),
    ("Till stuck on 'Synchronising' at opening", "tills", "staff", "POS sync, till start "
     "up, store opening",
     "Staff only: force a till to finish its morning sync from the store server.",
     "## When\n\nA till shows *Synchronising price files* for more than 10 minutes at "
     "opening.\n\n## Steps\n\n1. Check the store server (`store-XXXX-srv1`) is online in "
     "the fleet view\n2. Run the remediation action **clear-pos-cache** on the till\n3. "
     "Restart the till client\n4. If several stores report it, check the overnight price "
     "file job first: it may have failed centrally\n\nLink incidents from several stores "
     "to one parent.", "resolver"),
    ("Set up email on a company phone", "mobile", "everyone", "iPhone mail, Android mail, "
     "Outlook mobile, Intune",
     "Install Outlook from Company Portal and sign in; the phone is enrolled as you go.",
     "1. Install **Company Portal** from the App Store or Google Play\n2. Sign in with "
     "your work account and follow the enrolment steps\n3. Install **Outlook** from "
     "Company Portal\n4. Open Outlook and sign in\n\nThe built-in mail apps are blocked: "
     "use Outlook.", "agent"),
    ("Warehouse handheld scanner will not connect", "mobile", "everyone", "XCover, "
     "handheld, scanner gun, WMS",
     "Toggle flight mode and re-open the warehouse app; swap the battery if below 20%.",
     "1. Swipe down and turn flight mode on and off\n2. Re-open the **WMS Mobile** app\n"
     "3. If the battery is below 20%, swap it: low batteries drop Wi-Fi first\n4. Still "
     "offline: take it to the charging rack and use a spare; report the faulty one with "
     "its asset tag", "agent"),
    ("Major incident: how the desk runs the bridge", "runbooks", "staff",
     "major incident, bridge call, P1",
     "Staff only: who does what in the first 30 minutes of a major incident.",
     "## First 10 minutes\n\n- Declare the major incident on the incident page\n- Open "
     "the bridge (Teams: *Major incident bridge*)\n- Post the first stakeholder update, "
     "even if it only says we are investigating\n\n## Every 30 minutes\n\n- Stakeholder "
     "update, whether or not there is news\n\n## After\n\n- Hand over to problem "
     "management; schedule the post-incident review within five working days",
     "resolver"),
    ("Unlock an account and issue a temporary access pass", "runbooks", "staff",
     "identity check, TAP, unlock",
     "Staff only: check identity before unlocking an account or issuing a temporary "
     "access pass.",
     "## Identity check\n\nAsk for the employee number and call them back on the number "
     "in their profile. Never use a number the caller gives.\n\n## Then\n\n1. Unlock in "
     "the identity portal\n2. Issue a temporary access pass valid for one hour, single "
     "use\n3. Add a work note with how identity was checked", "agent"),
)

IN_REVIEW = ("Book a Teams meeting room", "email", "everyone", "meeting room, Teams Rooms",
             "Book a room with its Teams Room screen from Outlook.",
             "1. New meeting in Outlook\n2. *Room finder* → choose the building\n3. Pick a "
             "room marked **Teams Room**\n4. The room's screen joins the meeting by itself",
             "agent")
RETIRED = ("Connect with Cisco AnyConnect", "remote", "everyone", "AnyConnect, old VPN",
           "The old VPN client, replaced by GlobalProtect in 2026.",
           "Open Cisco AnyConnect and connect to **vpn-old.aldermoor.example**.", "agent")
DUE_FOR_REVIEW = "Scan a document to your email"
NEW_DRAFT_OF = "Connect to the VPN from home"
VIEWS = {"Reset your password": 412, "Connect to the VPN from home": 356,
         "Outlook keeps asking for your password": 198, "A printer shows as offline": 164,
         "Till will not print receipts": 141, "Connect to the office Wi-Fi": 120}
FEEDBACK: tuple[tuple[str, int, bool, str], ...] = (
    ("Reset your password", 0, True, "Quick and clear, thanks."),
    ("Reset your password", 1, True, ""),
    ("Reset your password", 2, False, "My phone was lost, the article should say what "
                                      "to do then."),
    ("Connect to the VPN from home", 3, True, "Choosing London-2 fixed it."),
    ("Connect to the VPN from home", 4, True, ""),
    ("A printer shows as offline", 5, False, "Tried everything, still offline."),
    ("Till will not print receipts", 6, True, "Paper was in the wrong way round!"),
    ("Outlook keeps asking for your password", 7, True, ""),
)


def _people() -> dict[str, Any]:
    names = ("agent", "resolver", "knowledge.manager", "requester")
    found = {u.username: u for u in User.objects.filter(username__in=names)}
    manager = found.get("knowledge.manager") or User.objects.filter(
        is_superuser=True).first()
    return {"agent": found.get("agent"), "resolver": found.get("resolver"),
            "manager": manager}


def _categories() -> dict[str, Category]:
    existing = {c.slug: c for c in Category.objects.all()}
    for slug, name, parent, description in CATEGORIES:
        if slug not in existing:
            existing[slug] = Category.objects.create(
                name=name, slug=slug, description=description,
                parent=existing.get(parent) if parent else None)
    return existing


def _write(row: tuple[str, ...], categories: dict[str, Category],
           people: dict[str, Any]) -> Article:
    title, category, audience, keywords, summary, body, author = row
    return services.article_create(
        actor=people[author], title=title, summary=summary, body=body,
        category=categories[category], audience=audience, keywords=keywords,
        owners=[people[author]], review_every_days=365)


def _publish(article: Article, people: dict[str, Any]) -> None:
    version = article.versions.order_by("-number").first()
    author = people["agent"] if version.author_id == getattr(people["manager"], "pk", None) \
        else version.author
    services.version_submit_for_review(actor=author, version=version)
    services.version_approve(actor=people["manager"], version=version)
    services.version_publish(actor=people["manager"], version=version)


def load_knowledge() -> None:
    people = _people()
    if people["agent"] is None or people["resolver"] is None:
        return  # the people step did not run
    categories = _categories()
    titles = set(Article.objects.values_list("title", flat=True))
    for row in ARTICLES:
        if row[0] not in titles:
            _publish(_write(row, categories, people), people)
    if IN_REVIEW[0] not in titles:
        article = _write(IN_REVIEW, categories, people)
        services.version_submit_for_review(actor=people["agent"],
                                           version=article.versions.get())
    if RETIRED[0] not in titles:
        article = _write(RETIRED, categories, people)
        _publish(article, people)
        services.article_retire(actor=people["manager"], article=article,
                                reason="Replaced by GlobalProtect (see Connect to the VPN "
                                       "from home).")
    vpn = Article.objects.filter(title=NEW_DRAFT_OF).first()
    if vpn is not None and vpn.versions.count() == 1:
        version = vpn.current_version
        services.version_draft(
            actor=people["resolver"], article=vpn, title=version.title,
            summary=version.summary,
            body=version.body + "\n\n## On a store network\n\nStore networks block the VPN: "
                                "use the store PC's own connection instead.")
    # Seed data: an article whose yearly review date has passed, and reading counts.
    now = timezone.now()
    Article.objects.filter(title=DUE_FOR_REVIEW, next_review_at__gt=now).update(
        next_review_at=now - datetime.timedelta(days=3))
    for title, views in VIEWS.items():
        Article.objects.filter(title=title, view_count__lt=views).update(
            view_count=F("view_count") + views)
    readers = list(User.objects.filter(groups__name="Requester", is_active=True)
                   .order_by("username")[:8])
    for title, index, helpful, comment in FEEDBACK:
        article = Article.objects.filter(title=title).first()
        if article is None or index >= len(readers) or \
                article.feedback.filter(user=readers[index]).exists():
            continue
        services.feedback_record(actor=readers[index], article=article, helpful=helpful,
                                 comment=comment)
